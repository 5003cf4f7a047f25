"use client";
import { KeyRound, Trash2 } from "lucide-react";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import type { ApiKey, Theme, User } from "@/lib/types";
import { CopyButton } from "./markdown";
import { PageFrame, Section } from "./page-frame";
import { useApp } from "./providers";
import { useModels } from "./use-models";
import { Button } from "./ui/button";
import { Input, Select, Textarea } from "./ui/input";
import { Label } from "./ui/label";

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

/** For a call that checks the current password: its 401 is a wrong password, shown to the
 * user, not an ended session (the client's refresh-and-retry would log the user out). */
const PASSWORD_CHECKED = { retryAuth: false } as const;

function ProfileForm() {
  const { api, user, setUser, setTheme } = useApp();
  const models = useModels();
  const [name, setName] = useState(user?.display_name ?? "");
  const [model, setModel] = useState(user?.preferences.default_model ?? "");
  const [system, setSystem] = useState(user?.preferences.default_system_prompt ?? "");
  const [temperature, setTemperature] = useState(user?.preferences.temperature ?? 0.7);
  const [theme, setThemeChoice] = useState<Theme>(user?.preferences.theme ?? "system");
  const [status, setStatus] = useState<string | null>(null);

  async function save(event: FormEvent) {
    event.preventDefault();
    try {
      const updated = await api.request<User>("PATCH", "/api/auth/me", {
        display_name: name,
        preferences: { default_model: model || null, default_system_prompt: system || null, temperature, theme },
      });
      setUser(updated);
      setTheme(theme);
      setStatus("Saved.");
    } catch (error) {
      setStatus(message(error));
    }
  }

  return (
    <form onSubmit={save} className="grid gap-4 sm:grid-cols-2">
      <div className="space-y-1.5">
        <Label htmlFor="name">Name</Label>
        <Input id="name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="email">Email</Label>
        <Input id="email" value={user?.email ?? ""} disabled />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="default-model">Default model</Label>
        <Select id="default-model" value={model} onChange={(e) => setModel(e.target.value)}>
          <option value="">First available</option>
          {model && !models.some((m) => m.name === model) && <option value={model}>{model}</option>}
          {models.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </Select>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="theme">Theme</Label>
        <Select id="theme" value={theme} onChange={(e) => setThemeChoice(e.target.value as Theme)}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </Select>
      </div>
      <div className="space-y-1.5 sm:col-span-2">
        <Label htmlFor="default-system">Default system prompt</Label>
        <Textarea id="default-system" value={system} maxLength={8000} onChange={(e) => setSystem(e.target.value)} />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="default-temperature">Temperature ({temperature.toFixed(1)})</Label>
        <input id="default-temperature" type="range" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(Number(e.target.value))} className="w-full" />
      </div>
      <div className="flex items-end justify-end gap-3 sm:col-span-2">
        {status && <span role="status" className="text-sm text-muted-foreground">{status}</span>}
        <Button type="submit">Save</Button>
      </div>
    </form>
  );
}

function ApiKeys() {
  const { api } = useApp();
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setKeys((await api.request<{ keys: ApiKey[] }>("GET", "/api/auth/keys")).keys);
    } catch (caught) {
      setError(message(caught));
    }
  }, [api]);
  useEffect(() => void load(), [load]);

  async function create(event: FormEvent) {
    event.preventDefault();
    try {
      const body = { name: name.trim() || "key", password };
      const out = await api.request<ApiKey & { key: string }>("POST", "/api/auth/keys", body, PASSWORD_CHECKED);
      setCreated(out.key);
      setName("");
      setPassword("");
      setError(null);
      await load();
    } catch (caught) {
      setError(message(caught));
    }
  }

  async function revoke(id: string) {
    try {
      await api.request("DELETE", `/api/auth/keys/${id}`);
      await load();
    } catch (caught) {
      setError(message(caught));
    }
  }

  return (
    <div className="space-y-4">
      <form onSubmit={create} aria-label="New API key" className="flex flex-wrap gap-2 sm:flex-nowrap">
        <Input aria-label="Key name" placeholder="Key name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} />
        <Input
          aria-label="Current password"
          placeholder="Current password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <Button type="submit" className="shrink-0">
          <KeyRound aria-hidden /> Create key
        </Button>
      </form>
      {created && (
        <div role="status" className="space-y-1 rounded-lg border border-border bg-muted p-3 text-sm">
          <p className="font-medium">Copy this key now: it is shown only once.</p>
          <div className="flex items-center gap-2">
            <code className="flex-1 break-all" data-testid="new-key">{created}</code>
            <CopyButton text={created} label="Copy key" />
          </div>
        </div>
      )}
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      <table className="w-full text-sm">
        <thead className="text-left text-muted-foreground">
          <tr>
            <th className="py-1 font-medium">Name</th>
            <th className="py-1 font-medium">Key</th>
            <th className="py-1 font-medium">Created</th>
            <th className="py-1 font-medium">Last used</th>
            <th className="sr-only">Actions</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <tr key={key.id} className="border-t border-border">
              <td className="py-2">{key.name}</td>
              <td className="py-2 font-mono">{key.prefix}…</td>
              <td className="py-2">{new Date(key.created_at).toLocaleDateString()}</td>
              <td className="py-2">{key.last_used_at ? new Date(key.last_used_at).toLocaleString() : "never"}</td>
              <td className="py-2 text-right">
                <Button variant="ghost" size="iconSm" aria-label={`Revoke ${key.name}`} onClick={() => void revoke(key.id)}>
                  <Trash2 aria-hidden />
                </Button>
              </td>
            </tr>
          ))}
          {!keys.length && (
            <tr>
              <td colSpan={5} className="py-2 text-muted-foreground">No API keys.</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function PasswordForm() {
  const { api } = useApp();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [status, setStatus] = useState<string | null>(null);

  async function change(event: FormEvent) {
    event.preventDefault();
    try {
      await api.request("POST", "/api/auth/me/password", { current_password: current, new_password: next }, PASSWORD_CHECKED);
      setCurrent("");
      setNext("");
      setStatus("Password changed. Other sessions were logged out.");
    } catch (error) {
      setStatus(message(error));
    }
  }

  return (
    <form onSubmit={change} aria-label="Change password" className="grid gap-4 sm:grid-cols-2">
      <div className="space-y-1.5">
        <Label htmlFor="current-password">Current password</Label>
        <Input id="current-password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="new-password">New password</Label>
        <Input id="new-password" type="password" autoComplete="new-password" required minLength={8} value={next} onChange={(e) => setNext(e.target.value)} />
      </div>
      <div className="flex items-end justify-end gap-3 sm:col-span-2">
        {status && <span role="status" className="text-sm text-muted-foreground">{status}</span>}
        <Button type="submit" variant="outline">Change password</Button>
      </div>
    </form>
  );
}

export function SettingsView() {
  return (
    <PageFrame title="Settings">
      <Section title="Profile and preferences" description="Defaults for new chats.">
        <ProfileForm />
      </Section>
      <Section title="Password">
        <PasswordForm />
      </Section>
      <Section title="API keys" description="For scripts and the CLI. Exchange a key at /api/auth/token for an access token.">
        <ApiKeys />
      </Section>
    </PageFrame>
  );
}
