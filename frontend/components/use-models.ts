"use client";
import { useEffect, useState } from "react";
import type { ModelInfo } from "@/lib/types";
import { useApp } from "./providers";

/** The models live workers serve, refreshed every 15 s and when the window gets the focus. */
export function useModels(): ModelInfo[] {
  const { api } = useApp();
  const [models, setModels] = useState<ModelInfo[]>([]);
  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const out = await api.request<{ models: ModelInfo[] }>("GET", "/api/models", undefined, { auth: false });
        if (!cancelled) setModels(out.models);
      } catch {
        // keep the last list; the connection status shows the outage
      }
    };
    void load();
    const timer = window.setInterval(load, 15_000);
    // Admins change the catalogue at run time: coming back to the tab shows the current list at once.
    window.addEventListener("focus", load);
    return () => {
      cancelled = true;
      window.clearInterval(timer);
      window.removeEventListener("focus", load);
    };
  }, [api]);
  return models;
}
