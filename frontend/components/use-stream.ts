"use client";
import { useCallback, useSyncExternalStore } from "react";
import type { StreamState } from "@/lib/stream";
import { useApp } from "./providers";

/** The live stream of one answer; only this answer's component re-renders on its frames. */
export function useStream(messageId: string): StreamState | undefined {
  const { controller } = useApp();
  const subscribe = useCallback(
    (onChange: () => void) => (controller ? controller.streams.subscribe(messageId, onChange) : () => undefined),
    [controller, messageId],
  );
  const get = useCallback(() => controller?.streams.get(messageId), [controller, messageId]);
  return useSyncExternalStore(subscribe, get, () => undefined);
}
