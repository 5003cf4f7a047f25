"use client";
import { CatalogView } from "@/components/catalog-view";
import { RequireAuth } from "@/components/require-auth";

export default function CatalogPage() {
  return (
    <RequireAuth admin>
      <CatalogView />
    </RequireAuth>
  );
}
