"use client";
import { Monitor, Moon, Sun } from "lucide-react";
import type { Theme } from "@/lib/types";
import { Button } from "./ui/button";
import { useApp } from "./providers";

const NEXT: Record<Theme, Theme> = { system: "light", light: "dark", dark: "system" };
const ICON = { system: Monitor, light: Sun, dark: Moon };

/** Cycles system, light, dark. */
export function ThemeToggle() {
  const { theme, setTheme } = useApp();
  const Icon = ICON[theme];
  return (
    <Button
      variant="ghost"
      size="icon"
      aria-label={`Theme: ${theme}. Switch to ${NEXT[theme]}`}
      title={`Theme: ${theme}`}
      data-testid="theme-toggle"
      onClick={() => setTheme(NEXT[theme])}
    >
      <Icon aria-hidden />
    </Button>
  );
}
