"use client";
import { AdminView } from "@/components/admin-view";
import { RequireAuth } from "@/components/require-auth";

export default function AdminPage() {
  return (
    <RequireAuth admin>
      <AdminView />
    </RequireAuth>
  );
}
