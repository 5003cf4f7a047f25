// Projects and the prompt library of the history service: shapes and the calls with logic in them.
import { ApiError, type ApiClient } from "./api";
import type { ConversationSummary } from "./types";

export interface Project {
  id: string;
  name: string;
  system_prompt: string | null;
  model: string | null;
  conversation_count: number;
  created_at: string;
  updated_at: string;
}

export interface SavedPrompt {
  id: string;
  name: string;
  text: string;
  tags: string[];
  shared: boolean;
  mine: boolean;
  created_at: string;
  updated_at: string;
}

export type PromptScope = "all" | "own" | "shared";

/** Tags as history stores them: lower case, no commas, unique, sorted, at most 10. */
export function parseTags(text: string): string[] {
  const tags = new Set(
    text
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
  return [...tags].sort().slice(0, 10);
}

export function promptsQuery(scope: PromptScope, tag: string, q: string): string {
  const params = new URLSearchParams({ scope, limit: "100" });
  if (tag) params.set("tag", tag);
  if (q.trim()) params.set("q", q.trim());
  return `/api/history/prompts?${params}`;
}

/** The conversations outside any project: projects list their own. */
export function outsideProjects<T extends Pick<ConversationSummary, "project_id">>(items: T[]): T[] {
  return items.filter((c) => !c.project_id);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Move a conversation into a project (or out, with null). Right after its first prompt history
 * may not know the conversation yet (a 404): ask again a few times before giving up.
 */
export async function moveConversation(
  api: ApiClient,
  conversationId: string,
  projectId: string | null,
  { attempts = 20, delayMs = 250, wait = sleep }: { attempts?: number; delayMs?: number; wait?: (ms: number) => Promise<void> } = {},
): Promise<ConversationSummary> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.request<ConversationSummary>("PATCH", `/api/history/conversations/${encodeURIComponent(conversationId)}`, {
        project_id: projectId,
      });
    } catch (error) {
      const notStoredYet = error instanceof ApiError && error.status === 404 && !/project/i.test(error.message);
      if (!notStoredYet || attempt >= attempts) throw error;
      await wait(delayMs);
    }
  }
}

/** Tells lists elsewhere on the page (the sidebar) that projects or conversations changed. */
export const CHANGED_EVENT = "parley:library-changed";
export function announceChange(): void {
  if (typeof window !== "undefined") window.dispatchEvent(new Event(CHANGED_EVENT));
}
