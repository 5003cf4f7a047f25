"use client";
import { RequireAuth } from "@/components/require-auth";
import { SettingsView } from "@/components/settings-view";

export default function SettingsPage() {
  return (
    <RequireAuth>
      <SettingsView />
    </RequireAuth>
  );
}
