"use client";
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import type { User } from "@/lib/types";
import { Latency, Live, Usage, useStats } from "./admin-stats";
import { PageFrame, Section } from "./page-frame";
import { useApp } from "./providers";
import { Button } from "./ui/button";
import { Input, Select } from "./ui/input";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

function Users({ onUsers }: { onUsers: (users: User[]) => void }) {
  const { api, user: me } = useApp();
  const [query, setQuery] = useState("");
  const [users, setUsers] = useState<User[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const params = new URLSearchParams({ limit: "100" });
      if (query) params.set("q", query);
      const page = await api.request<{ users: User[]; total: number }>("GET", `/api/auth/users?${params}`);
      setUsers(page.users);
      setTotal(page.total);
      onUsers(page.users);
      setError(null);
    } catch (caught) {
      setError(errorText(caught));
    }
  }, [api, query, onUsers]);

  useEffect(() => {
    const timer = window.setTimeout(() => void load(), 250);
    return () => window.clearTimeout(timer);
  }, [load]);

  async function update(id: string, body: { role?: string; disabled?: boolean }) {
    try {
      const updated = await api.request<User>("PATCH", `/api/auth/users/${id}`, body);
      setUsers((old) => old.map((u) => (u.id === id ? updated : u)));
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    <div className="space-y-3">
      <Input aria-label="Search users" placeholder="Search by email or name" value={query} onChange={(e) => setQuery(e.target.value)} className="max-w-sm" />
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      <div className="overflow-x-auto">
        <table className="w-full text-sm" aria-label="Users">
          <thead className="text-left text-muted-foreground">
            <tr>
              <th className="py-1 font-medium">User</th>
              <th className="py-1 font-medium">Role</th>
              <th className="py-1 font-medium">Status</th>
              <th className="py-1 font-medium">Joined</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} className="border-t border-border">
                <td className="py-2">
                  <div className="font-medium">{u.display_name}</div>
                  <div className="text-muted-foreground">{u.email}</div>
                </td>
                <td className="py-2">
                  <Select aria-label={`Role of ${u.email}`} value={u.role} disabled={u.id === me?.id} onChange={(e) => void update(u.id, { role: e.target.value })} className="w-28">
                    <option value="user">user</option>
                    <option value="admin">admin</option>
                  </Select>
                </td>
                <td className="py-2">
                  <Button
                    size="sm"
                    variant={u.disabled ? "default" : "outline"}
                    disabled={u.id === me?.id}
                    aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}
                    onClick={() => void update(u.id, { disabled: !u.disabled })}
                  >
                    {u.disabled ? "Enable" : "Disable"}
                  </Button>
                  {u.disabled && <span className="ml-2 text-destructive">disabled</span>}
                </td>
                <td className="py-2">{new Date(u.created_at).toLocaleDateString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="text-xs text-muted-foreground">{total} users</p>
    </div>
  );
}

export function AdminView() {
  const [users, setUsers] = useState<User[]>([]);
  const { stats, error } = useStats(30);
  return (
    <PageFrame title="Admin">
      <p className="text-sm">
        <Link href="/admin/catalog/" className="text-ring underline">
          Model catalogue
        </Link>
        <span className="text-muted-foreground"> · providers and models users can pick</span>
      </p>
      {error && <p role="alert" className="text-sm text-destructive">Statistics are unavailable: {error}</p>}
      {stats && (
        <>
          <Section title="Live" description="Workers, generations and queues right now (refreshed every 10 s).">
            <Live stats={stats} />
          </Section>
          <Section title="Latency" description="Time to first token and tokens per second of the recent answers this gateway saw.">
            <Latency latency={stats.latency} />
          </Section>
          <Section title="Usage" description={`Tokens and cost per day, user and model over the last ${stats.days} days.`}>
            <Usage stats={stats} users={users} />
          </Section>
        </>
      )}
      <Section title="Users">
        <Users onUsers={setUsers} />
      </Section>
    </PageFrame>
  );
}
