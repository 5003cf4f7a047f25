"use client";
import { Loader2 } from "lucide-react";
import { usePathname, useRouter } from "next/navigation";
import { type ReactNode, useEffect } from "react";
import { useApp } from "./providers";

/** Renders its children for a logged-in user; otherwise sends the user to login and back here after. */
export function RequireAuth({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { auth, user } = useApp();
  const router = useRouter();
  const pathname = usePathname();
  useEffect(() => {
    if (auth === "out") {
      const next = pathname + window.location.search;
      router.replace(`/login/?next=${encodeURIComponent(next)}`);
    }
  }, [auth, pathname, router]);
  if (auth !== "in" || !user) {
    return (
      <div className="flex h-dvh items-center justify-center text-muted-foreground" role="status">
        <Loader2 className="mr-2 size-5 animate-spin" aria-hidden /> Loading…
      </div>
    );
  }
  if (admin && user.role !== "admin") {
    return (
      <div className="flex h-dvh flex-col items-center justify-center gap-2 p-6 text-center">
        <h1 className="text-xl font-semibold">Not allowed</h1>
        <p className="text-muted-foreground">This page is for administrators.</p>
        <a className="text-ring underline" href="/c/">
          Back to chat
        </a>
      </div>
    );
  }
  return <>{children}</>;
}
