// A conversation's message tree (edits and regenerations branch): the path shown,
// and moving between sibling branches.

export interface TreeMessage {
  id: string;
  parent_id: string | null;
  role: "user" | "assistant" | "system";
  content: string;
  status: string;
  created_at: string;
  model?: string | null;
  finish_reason?: string | null;
  error_code?: string | null;
  error_message?: string | null;
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  ttft_ms?: number | null;
  tokens_per_s?: number | null;
}

export type Tree = Map<string, TreeMessage>;

export function buildTree(messages: TreeMessage[]): Tree {
  return new Map(messages.map((m) => [m.id, m]));
}

/** Messages from the root to `leafId`. */
export function pathTo(tree: Tree, leafId: string | null): TreeMessage[] {
  const path: TreeMessage[] = [];
  const seen = new Set<string>();
  let id = leafId;
  while (id !== null && !seen.has(id)) {
    const message = tree.get(id);
    if (!message) break;
    seen.add(id);
    path.push(message);
    id = message.parent_id;
  }
  return path.reverse();
}

function byCreated(a: TreeMessage, b: TreeMessage): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

export function childrenOf(tree: Tree, parentId: string | null): TreeMessage[] {
  return [...tree.values()].filter((m) => m.parent_id === parentId).sort(byCreated);
}

/** Every message's children, oldest first, by parent id: built once per tree, so that a long
 * chat asks for siblings without a walk of the whole tree per message. */
export type ChildIndex = Map<string | null, TreeMessage[]>;

export function indexChildren(tree: Tree): ChildIndex {
  const index: ChildIndex = new Map();
  for (const message of tree.values()) {
    const siblings = index.get(message.parent_id);
    if (siblings) siblings.push(message);
    else index.set(message.parent_id, [message]);
  }
  for (const siblings of index.values()) siblings.sort(byCreated);
  return index;
}

/** The message and its siblings (same parent, same role), oldest first. */
export function siblingsOf(tree: Tree, message: TreeMessage, index?: ChildIndex): TreeMessage[] {
  const children = index ? (index.get(message.parent_id) ?? []) : childrenOf(tree, message.parent_id);
  return children.filter((m) => m.role === message.role);
}

/** The newest leaf under `id` (following the newest child each time). */
export function newestLeaf(tree: Tree, id: string): string {
  let current = id;
  for (;;) {
    const children = childrenOf(tree, current);
    const last = children[children.length - 1];
    if (!last) return current;
    current = last.id;
  }
}

/** The leaf to show after moving `message` by `step` among its siblings. */
export function switchBranch(tree: Tree, message: TreeMessage, step: number): string | null {
  const siblings = siblingsOf(tree, message);
  const index = siblings.findIndex((m) => m.id === message.id);
  const target = siblings[index + step];
  return target ? newestLeaf(tree, target.id) : null;
}
