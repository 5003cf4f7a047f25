"use client";
import { LibraryView } from "@/components/library-view";
import { RequireAuth } from "@/components/require-auth";

export default function LibraryPage() {
  return (
    <RequireAuth>
      <LibraryView />
    </RequireAuth>
  );
}
