// One open conversation: the tree from history, plus the prompts this page sent that
// history has not stored yet. Pure reducer; the React hook wraps it.
import type { ConversationDetail } from "./types";
import { type Tree, type TreeMessage, buildTree } from "./tree";

export const LOCAL_USER = "local:";
export const PENDING_ANSWER = "pending:";

export interface ConversationState {
  conversationId: string | null;
  title: string | null;
  model: string | null;
  systemPrompt: string | null;
  tree: Tree;
  leafId: string | null;
  loading: boolean;
  error: string | null;
}

export type ConversationAction =
  | { type: "reset"; conversationId: string | null }
  | { type: "loaded"; detail: ConversationDetail }
  | { type: "loadFailed"; error: string }
  | { type: "sent"; requestId: string; parentId: string | null; text: string; model: string; at: string }
  | { type: "regenerated"; requestId: string; promptId: string; model: string; at: string }
  | { type: "accepted"; requestId: string; conversationId: string; messageId: string; promptMessageId?: string | null }
  | { type: "requestFailed"; requestId: string; code: string; message: string }
  | { type: "showLeaf"; leafId: string }
  | { type: "renamed"; title: string };

export function emptyConversation(conversationId: string | null): ConversationState {
  return {
    conversationId,
    title: null,
    model: null,
    systemPrompt: null,
    tree: new Map(),
    leafId: null,
    loading: conversationId !== null,
    error: null,
  };
}

function isLocal(id: string): boolean {
  return id.startsWith(LOCAL_USER) || id.startsWith(PENDING_ANSWER);
}

/** History's tree, plus the local prompts and regenerations whose answer history does not have yet. */
export function mergeServerTree(local: Tree, server: TreeMessage[]): Tree {
  const merged = buildTree(server);
  for (const message of local.values()) {
    if (message.role !== "assistant" || merged.has(message.id)) continue;
    const parent = message.parent_id ? local.get(message.parent_id) : undefined;
    if (!parent) continue;
    // In flight: a prompt of this page, or an answer (a regeneration too) history has not stored yet.
    const inFlight = isLocal(parent.id) || isLocal(message.id) || message.status === "pending";
    if (!inFlight) continue;
    if (!merged.has(parent.id)) merged.set(parent.id, parent);
    merged.set(message.id, message);
  }
  return merged;
}

function pendingAnswer(requestId: string, parentId: string, model: string, at: string): TreeMessage {
  return { id: PENDING_ANSWER + requestId, parent_id: parentId, role: "assistant", content: "", status: "pending", created_at: at, model };
}

export function conversationReducer(state: ConversationState, action: ConversationAction): ConversationState {
  switch (action.type) {
    case "reset":
      return emptyConversation(action.conversationId);
    case "loaded": {
      const { detail } = action;
      const tree = keepUnchanged(state.tree, mergeServerTree(state.tree, detail.messages));
      const keepLeaf = state.leafId !== null && tree.has(state.leafId);
      return {
        ...state,
        conversationId: detail.id,
        title: detail.title,
        model: detail.model,
        systemPrompt: detail.system_prompt,
        tree,
        leafId: keepLeaf ? state.leafId : detail.current_leaf_id,
        loading: false,
        error: null,
      };
    }
    case "loadFailed":
      return { ...state, loading: false, error: action.error };
    case "sent": {
      const tree = new Map(state.tree);
      const userId = LOCAL_USER + action.requestId;
      const answerId = PENDING_ANSWER + action.requestId;
      tree.set(userId, {
        id: userId,
        parent_id: action.parentId,
        role: "user",
        content: action.text,
        status: "finished",
        created_at: action.at,
      });
      tree.set(answerId, pendingAnswer(action.requestId, userId, action.model, action.at));
      return { ...state, tree, leafId: answerId };
    }
    case "regenerated": {
      if (!state.tree.has(action.promptId)) return state;
      const tree = new Map(state.tree);
      const answer = pendingAnswer(action.requestId, action.promptId, action.model, action.at);
      tree.set(answer.id, answer);
      return { ...state, tree, leafId: answer.id };
    }
    case "accepted": {
      const pendingId = PENDING_ANSWER + action.requestId;
      const pending = state.tree.get(pendingId);
      if (!pending) return state;
      const tree = new Map(state.tree);
      tree.delete(pendingId);
      let parentId = pending.parent_id;
      const prompt = parentId ? tree.get(parentId) : undefined;
      if (prompt && isLocal(prompt.id) && action.promptMessageId) {
        // The prompt takes the id history gives it, so that it can be answered again at once.
        tree.delete(prompt.id);
        tree.set(action.promptMessageId, { ...prompt, id: action.promptMessageId });
        parentId = action.promptMessageId;
      }
      tree.set(action.messageId, { ...pending, id: action.messageId, parent_id: parentId });
      return {
        ...state,
        conversationId: state.conversationId ?? action.conversationId,
        tree,
        leafId: state.leafId === pendingId ? action.messageId : state.leafId,
      };
    }
    case "requestFailed": {
      const pendingId = PENDING_ANSWER + action.requestId;
      const pending = state.tree.get(pendingId);
      if (!pending) return state;
      const tree = new Map(state.tree);
      tree.set(pendingId, { ...pending, status: "failed", error_code: action.code, error_message: action.message });
      return { ...state, tree };
    }
    case "showLeaf":
      return state.tree.has(action.leafId) ? { ...state, leafId: action.leafId } : state;
    case "renamed":
      return { ...state, title: action.title };
  }
}

function sameMessage(a: TreeMessage, b: TreeMessage): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  keys.delete("children"); // history's list of child ids: the tree holds them anyway
  for (const key of keys) {
    if (a[key as keyof TreeMessage] !== b[key as keyof TreeMessage]) return false;
  }
  return true;
}

/** `next`, with the message objects of `previous` where nothing changed: a reload of a long
 * chat then re-renders only the messages that did (the list's items are memoised). */
export function keepUnchanged(previous: Tree, next: Tree): Tree {
  for (const [id, message] of next) {
    const before = previous.get(id);
    if (before && before !== message && sameMessage(before, message)) next.set(id, before);
  }
  return next;
}

/** The id to send as `parent_id` after `message` (null for a local or pending one is never wanted). */
export function serverParent(message: TreeMessage | undefined): string | null {
  if (!message) return null;
  return isLocal(message.id) ? null : message.id;
}

/** Whether history knows this message by this id (not a prompt or answer of this page in flight). */
export function isStored(id: string | null): id is string {
  return id !== null && !isLocal(id);
}
