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
  | { type: "accepted"; requestId: string; conversationId: string; messageId: string }
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

/** History's tree, plus the local prompts whose answer history does not have yet. */
export function mergeServerTree(local: Tree, server: TreeMessage[]): Tree {
  const merged = buildTree(server);
  for (const message of local.values()) {
    if (message.role !== "assistant" || merged.has(message.id)) continue;
    const parent = message.parent_id ? local.get(message.parent_id) : undefined;
    if (!parent || !parent.id.startsWith(LOCAL_USER)) continue;
    merged.set(parent.id, parent);
    merged.set(message.id, message);
  }
  return merged;
}

export function conversationReducer(state: ConversationState, action: ConversationAction): ConversationState {
  switch (action.type) {
    case "reset":
      return emptyConversation(action.conversationId);
    case "loaded": {
      const { detail } = action;
      const tree = mergeServerTree(state.tree, detail.messages);
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
      tree.set(answerId, {
        id: answerId,
        parent_id: userId,
        role: "assistant",
        content: "",
        status: "pending",
        created_at: action.at,
        model: action.model,
      });
      return { ...state, tree, leafId: answerId };
    }
    case "accepted": {
      const pendingId = PENDING_ANSWER + action.requestId;
      const pending = state.tree.get(pendingId);
      if (!pending) return state;
      const tree = new Map(state.tree);
      tree.delete(pendingId);
      tree.set(action.messageId, { ...pending, id: action.messageId });
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

/** The id to send as `parent_id` after `message` (null for a local or pending one is never wanted). */
export function serverParent(message: TreeMessage | undefined): string | null {
  if (!message) return null;
  return isLocal(message.id) ? null : message.id;
}
