"use client";
import { cn } from "@/lib/utils";
import { useApp } from "./providers";

const LABELS = {
  idle: "Offline",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Disconnected",
} as const;

export function ConnectionStatus() {
  const { connection } = useApp();
  const color = connection === "open" ? "bg-emerald-500" : connection === "closed" || connection === "idle" ? "bg-destructive" : "bg-amber-500";
  return (
    <div className="flex items-center gap-1.5 text-xs text-muted-foreground" role="status" aria-live="polite" data-testid="connection" data-state={connection}>
      <span className={cn("size-2 rounded-full", color, connection !== "open" && "animate-pulse")} aria-hidden />
      <span className={cn(connection === "open" && "sr-only sm:not-sr-only")}>{LABELS[connection]}</span>
    </div>
  );
}
