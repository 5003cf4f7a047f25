"use client";
import { MessagesSquare } from "lucide-react";
import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { type FormEvent, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import { safeNext } from "@/lib/urls";
import { Button } from "./ui/button";
import { Input } from "./ui/input";
import { Label } from "./ui/label";
import { useApp } from "./providers";

export function AuthForm({ mode }: { mode: "login" | "register" }) {
  const { api, auth, login } = useApp();
  const router = useRouter();
  const params = useSearchParams();
  // Only paths of this origin: never an open redirect (prerendering has no window, and no `next`).
  const next = safeNext(params.get("next"), typeof window === "undefined" ? "" : window.location.origin);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (auth === "in") router.replace(next);
  }, [auth, next, router]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") {
        await api.request("POST", "/api/auth/register", { email, password, display_name: displayName || email.split("@")[0] }, { auth: false });
      }
      await login(email, password);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught.message : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  const title = mode === "login" ? "Welcome back" : "Create your account";
  return (
    <main className="flex min-h-dvh items-center justify-center overflow-y-auto p-4">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-2xl border border-border bg-card p-8 shadow-sm" aria-labelledby="auth-title">
        <div className="flex flex-col items-center gap-2 text-center">
          <MessagesSquare className="size-8" aria-hidden />
          <h1 id="auth-title" className="text-2xl font-semibold">
            {title}
          </h1>
          <p className="text-sm text-muted-foreground">Parley</p>
        </div>
        {mode === "register" && (
          <div className="space-y-1.5">
            <Label htmlFor="display_name">Name</Label>
            <Input id="display_name" autoComplete="name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </div>
        )}
        <div className="space-y-1.5">
          <Label htmlFor="email">Email</Label>
          <Input id="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="password">Password</Label>
          <Input
            id="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
            minLength={mode === "register" ? 8 : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        {error && (
          <p role="alert" className="rounded-lg bg-destructive/10 px-3 py-2 text-sm text-destructive">
            {error}
          </p>
        )}
        <Button type="submit" className="w-full" disabled={busy}>
          {mode === "login" ? "Log in" : "Sign up"}
        </Button>
        <p className="text-center text-sm text-muted-foreground">
          {mode === "login" ? (
            <>
              No account? <Link className="text-ring underline" href={`/register/?next=${encodeURIComponent(next)}`}>Sign up</Link>
            </>
          ) : (
            <>
              Have an account? <Link className="text-ring underline" href={`/login/?next=${encodeURIComponent(next)}`}>Log in</Link>
            </>
          )}
        </p>
      </form>
    </main>
  );
}
