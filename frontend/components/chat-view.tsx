"use client";
import { ArrowDown, MessagesSquare } from "lucide-react";
import { useCallback, useEffect, useMemo, useReducer, useRef, useState, useSyncExternalStore } from "react";
import { ApiError } from "@/lib/api";
import {
  PENDING_ANSWER,
  conversationReducer,
  emptyConversation,
  isStored,
  serverParent,
} from "@/lib/conversation";
import { fitContext } from "@/lib/context";
import type { ChatMessage } from "@/lib/protocol";
import { isSilent } from "@/lib/stream";
import { type ChildIndex, type TreeMessage, indexChildren, pathTo, siblingsOf, switchBranch } from "@/lib/tree";
import type { Project } from "@/lib/library";
import type { ConversationDetail } from "@/lib/types";
import { draftKey, userKey } from "@/lib/user-storage";
import { newId } from "@/lib/utils";
import { type ChatParams, useChatSettings } from "./chat-settings";
import { Composer } from "./composer";
import { type BranchInfo, BusyContext, MessageItem } from "./message-item";
import { ModelPicker } from "./model-picker";
import { useApp } from "./providers";
import { useAutoscroll } from "./use-autoscroll";
import { useModels } from "./use-models";
import { Button } from "./ui/button";

// Long chats render their latest messages first; older ones on demand (with memoised
// messages and content-visibility, a 1,000-message chat stays fast).
const PAGE_SIZE = 100;
/** How long a running answer may bring nothing before history is asked how it ended. */
const SILENT_STREAM_MS = 10_000;

interface ChatViewProps {
  /** The conversation in the URL; null for a new chat. */
  conversationId: string | null;
  /** A new chat started in this project: its defaults apply, and its first prompt files it there. */
  projectId?: string | null;
  header: React.ReactNode;
}

/** A React key that survives history replacing a local prompt's id: a prompt is keyed by its answer. */
function messageKey(message: TreeMessage, next: TreeMessage | undefined): string {
  return message.role === "user" && next ? `prompt-of:${next.id}` : message.id;
}

/** Regenerations are answers of one prompt; chats stored before they were could repeat the prompt instead. */
function answerSiblings(tree: Map<string, TreeMessage>, message: TreeMessage, index?: ChildIndex): TreeMessage[] {
  return message.role === "assistant" ? siblingsOf(tree, message, index) : [];
}

/** The shown path, with what `branchFor` needs to look up in constant time. */
interface PathView {
  tree: Map<string, TreeMessage>;
  children: ChildIndex;
  onPath: Set<string>;
}

function branchFor({ tree, children, onPath }: PathView, message: TreeMessage): BranchInfo {
  const answers = answerSiblings(tree, message, children);
  if (answers.length > 1) return { branchIndex: answers.findIndex((a) => a.id === message.id), branchCount: answers.length };
  // Older regenerations branch at a prompt with the same text: their arrows go on the answer, like edits on the prompt.
  const prompt = message.role === "assistant" ? (message.parent_id ? tree.get(message.parent_id) : undefined) : message;
  const none = { branchIndex: 0, branchCount: 1 };
  if (!prompt || !onPath.has(prompt.id)) return none;
  const siblings = siblingsOf(tree, prompt, children);
  if (siblings.length < 2) return none;
  const sameText = siblings.every((s) => s.content === prompt.content);
  if ((message.role === "assistant") !== sameText) return none;
  return { branchIndex: siblings.findIndex((s) => s.id === prompt.id), branchCount: siblings.length };
}

export function ChatView({ conversationId, projectId = null, header }: ChatViewProps) {
  const { api, controller, user } = useApp();
  const models = useModels();
  const [state, dispatch] = useReducer(conversationReducer, conversationId, emptyConversation);
  const stateRef = useRef(state);
  stateRef.current = state;
  const myRequests = useRef(new Set<string>());
  const [notice, setNotice] = useState<string | null>(null);
  const prefs = user?.preferences;
  // Under RequireAuth: there is a user.
  const userId = user?.id ?? "";
  const lastModelKey = userKey(userId, "model");
  const [model, setModel] = useState<string>("");
  const defaults = useCallback(
    (): ChatParams => ({
      systemPrompt: prefs?.default_system_prompt ?? "",
      temperature: prefs?.temperature ?? 0.7,
      maxTokens: null,
    }),
    [prefs?.default_system_prompt, prefs?.temperature],
  );
  const [params, setParams] = useState<ChatParams>(defaults);

  const load = useCallback(
    async (id: string) => {
      try {
        const detail = await api.request<ConversationDetail>("GET", `/api/history/conversations/${encodeURIComponent(id)}`);
        if (stateRef.current.conversationId !== id && stateRef.current.conversationId !== null) return;
        dispatch({ type: "loaded", detail });
        controller?.streams.settle(detail.messages, Date.now());
        return detail;
      } catch (error) {
        dispatch({
          type: "loadFailed",
          error: error instanceof ApiError && error.status === 404 ? "This conversation does not exist or was deleted." : error instanceof Error ? error.message : "Could not load the conversation.",
        });
        return undefined;
      }
    },
    [api, controller],
  );

  // A new id in the URL: load it, unless it is the conversation this view just created.
  useEffect(() => {
    if (conversationId !== null && conversationId === stateRef.current.conversationId && stateRef.current.tree.size > 0) return;
    dispatch({ type: "reset", conversationId });
    setParams(defaults());
    if (conversationId) {
      void load(conversationId).then((detail) => {
        if (detail?.system_prompt) setParams((p) => ({ ...p, systemPrompt: detail.system_prompt ?? "" }));
        if (detail?.model) setModel(detail.model);
      });
    }
    // Only a new conversation (or a new chat in another project) resets the chat's settings, not a changed profile.
  }, [conversationId, projectId, load]);

  // A new chat in a project: the project's defaults (system prompt, model) fill the chat's settings.
  const [project, setProject] = useState<Project | null>(null);
  const projectRef = useRef<string | null>(null);
  projectRef.current = conversationId ? null : projectId;
  useEffect(() => {
    setProject(null);
    if (conversationId || !projectId) return;
    let cancelled = false;
    api
      .request<Project>("GET", `/api/history/projects/${encodeURIComponent(projectId)}`)
      .then((found) => {
        if (cancelled) return;
        setProject(found);
        if (found.system_prompt) setParams((p) => ({ ...p, systemPrompt: found.system_prompt ?? "" }));
        if (found.model) setModel(found.model);
      })
      .catch((error) => !cancelled && setNotice(error instanceof ApiError ? `Project: ${error.message}` : "Could not load the project."));
    return () => {
      cancelled = true;
    };
  }, [api, conversationId, projectId]);

  // The model: the chat's own, else the last one picked, else the profile's default, else the first live one.
  useEffect(() => {
    if (model || !models.length) return;
    const live = (name: string | null | undefined): name is string => !!name && models.some((m) => m.name === name);
    const last = localStorage.getItem(lastModelKey);
    const preferred = prefs?.default_model;
    setModel(state.model ?? (live(last) ? last : live(preferred) ? preferred : models[0]!.name));
  }, [models, model, prefs?.default_model, state.model, lastModelKey]);

  const pickModel = useCallback((name: string) => {
    localStorage.setItem(lastModelKey, name);
    setModel(name);
  }, [lastModelKey]);

  useEffect(() => {
    if (!controller) return;
    return controller.onEvent((event) => {
      const current = stateRef.current;
      if (event.type === "accepted" && myRequests.current.has(event.requestId)) {
        dispatch({
          type: "accepted",
          requestId: event.requestId,
          conversationId: event.conversationId,
          messageId: event.messageId,
          promptMessageId: event.promptMessageId,
        });
        if (!current.conversationId) {
          window.history.replaceState(null, "", `/c/?id=${encodeURIComponent(event.conversationId)}`);
        }
      } else if (event.type === "refused" && myRequests.current.has(event.requestId)) {
        dispatch({ type: "requestFailed", requestId: event.requestId, code: event.code, message: event.message });
      } else if (event.type === "finished" && current.conversationId && current.tree.has(event.messageId)) {
        const id = current.conversationId;
        // History stores the outcome a moment after the stream ends.
        window.setTimeout(() => void load(id), 500);
      } else if (event.type === "notice") {
        setNotice(event.message);
      }
    });
  }, [controller, load]);

  // An answer's end can be lost: frames written to a socket the network then dropped are gone,
  // and a resume brings back only what is still queued or running. While an answer on screen
  // has been silent for a while, ask history, which has every outcome (`load` settles it).
  useEffect(() => {
    if (!controller) return;
    const timer = window.setInterval(() => {
      const { conversationId: id, tree } = stateRef.current;
      const now = Date.now();
      if (id && [...tree.keys()].some((messageId) => isSilent(controller.streams.get(messageId), now, SILENT_STREAM_MS))) {
        void load(id);
      }
    }, SILENT_STREAM_MS);
    return () => window.clearInterval(timer);
  }, [controller, load]);

  const path = useMemo(() => pathTo(state.tree, state.leafId), [state.tree, state.leafId]);
  const pathView = useMemo<PathView>(
    () => ({ tree: state.tree, children: indexChildren(state.tree), onPath: new Set(path.map((m) => m.id)) }),
    [state.tree, path],
  );
  // History stores an outcome a moment after the stream ends: while it still shows an answer
  // as pending that no live stream covers (a reload right after the end), ask again.
  const stalePending = useMemo(
    () =>
      path.some((m) => {
        if (m.role !== "assistant" || m.status !== "pending" || m.id.startsWith(PENDING_ANSWER)) return false;
        const stream = controller?.streams.get(m.id);
        return !stream || stream.status === "done" || stream.status === "error";
      }),
    [path, controller],
  );
  useEffect(() => {
    const id = state.conversationId;
    if (!stalePending || !id) return;
    const timer = window.setTimeout(() => void load(id), 1500);
    return () => window.clearTimeout(timer);
  }, [stalePending, state.conversationId, state.tree, load]);
  const [visibleCount, setVisibleCount] = useState(PAGE_SIZE);
  useEffect(() => setVisibleCount(PAGE_SIZE), [conversationId]);
  const hidden = Math.max(0, path.length - visibleCount);
  const shown = hidden ? path.slice(hidden) : path;
  const leaf = path[path.length - 1];
  // Subscribes to the leaf's stream status only (a boolean), so deltas re-render the answer, not the list.
  const leafId = leaf?.id ?? null;
  const leafPending = !!leaf && leaf.role === "assistant" && leaf.status === "pending";
  const leafFailed = leaf?.status === "failed";
  const subscribeLeaf = useCallback(
    (onChange: () => void) => (controller && leafId ? controller.streams.subscribe(leafId, onChange) : () => undefined),
    [controller, leafId],
  );
  const leafRunning = useCallback(() => {
    const stream = leafId ? controller?.streams.get(leafId) : undefined;
    return stream ? stream.status === "waiting" || stream.status === "streaming" : leafPending;
  }, [controller, leafId, leafPending]);
  const running = useSyncExternalStore(subscribeLeaf, leafRunning, () => false) && !leafFailed;

  const contextBefore = useCallback((parentId: string | null): ChatMessage[] => {
    const { tree } = stateRef.current;
    const messages: ChatMessage[] = [];
    for (const message of pathTo(tree, parentId)) {
      if (message.role === "system") continue;
      const stream = controller?.streams.get(message.id);
      const content = stream?.status === "done" ? stream.text : message.content;
      if (message.role === "assistant" && (message.status === "failed" || !content)) continue;
      messages.push({ role: message.role, content });
    }
    return messages;
  }, [controller]);

  const paramsRef = useRef(params);
  paramsRef.current = params;
  const modelRef = useRef(model);
  modelRef.current = model;

  /** Sends `text` after `parentId`; with `promptId` (a stored user message) it answers that prompt again. */
  const submit = useCallback(
    (text: string, parentId: string | null, promptId: string | null = null) => {
      if (!controller) return;
      const current = stateRef.current;
      const { systemPrompt, temperature, maxTokens } = paramsRef.current;
      const messages = fitContext([
        ...(systemPrompt.trim() ? [{ role: "system" as const, content: systemPrompt.trim() }] : []),
        ...contextBefore(parentId),
        { role: "user", content: text },
      ]);
      const requestId = newId();
      myRequests.current.add(requestId);
      setNotice(null);
      const at = new Date().toISOString();
      if (promptId) dispatch({ type: "regenerated", requestId, promptId, model: modelRef.current, at });
      else dispatch({ type: "sent", requestId, parentId, text, model: modelRef.current, at });
      controller.prompt(
        {
          conversationId: current.conversationId,
          parentId,
          promptMessageId: promptId,
          projectId: current.conversationId ? null : projectRef.current,
          model: modelRef.current,
          messages,
          params: { temperature, ...(maxTokens ? { max_tokens: maxTokens } : {}) },
        },
        requestId,
      );
    },
    [controller, contextBefore],
  );

  const onSend = useCallback(
    (text: string) => {
      const last = path[path.length - 1];
      submit(text, serverParent(last));
    },
    [path, submit],
  );

  const onStop = useCallback(() => {
    if (leaf && !leaf.id.startsWith(PENDING_ANSWER)) controller?.stop(leaf.id);
  }, [controller, leaf]);

  const onRegenerate = useCallback(
    (answer: TreeMessage) => {
      const prompt = answer.parent_id ? stateRef.current.tree.get(answer.parent_id) : undefined;
      if (prompt) submit(prompt.content, prompt.parent_id, isStored(prompt.id) ? prompt.id : null);
    },
    [submit],
  );

  const onEdit = useCallback((prompt: TreeMessage, text: string) => submit(text, prompt.parent_id), [submit]);

  const onSwitch = useCallback(
    (message: TreeMessage, step: number) => {
      const { tree, conversationId: id } = stateRef.current;
      const prompt = message.role === "assistant" && message.parent_id ? tree.get(message.parent_id) : message;
      const from = answerSiblings(tree, message).length > 1 ? message : prompt;
      const leafId = from ? switchBranch(tree, from, step) : null;
      if (!leafId) return;
      dispatch({ type: "showLeaf", leafId });
      // History remembers the branch shown, for the next visit and other devices.
      if (id && isStored(leafId)) {
        api
          .request("PATCH", `/api/history/conversations/${encodeURIComponent(id)}`, { current_leaf_id: leafId })
          .catch(() => undefined); // the branch stays shown here; only the next visit would differ
      }
    },
    [api],
  );

  const scroller = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const { atBottom, scrollToBottom } = useAutoscroll(scroller, content);

  const settings = useChatSettings(params, setParams);
  const empty = path.length === 0;
  return (
    <div className="flex h-full min-w-0 flex-1">
      <div className="flex h-full min-w-0 flex-1 flex-col">
        <header className="flex h-14 shrink-0 items-center gap-2 border-b border-border px-2 sm:px-3">
          {header}
          <ModelPicker models={models} value={model} onChange={pickModel} />
          <div className="ml-auto flex items-center gap-1">
            {settings.button}
          </div>
        </header>
        <div ref={scroller} className="relative flex-1 overflow-y-auto" data-testid="chat-scroll">
          <div ref={content} className="mx-auto flex w-full max-w-3xl flex-col gap-6 px-4 py-6">
            {state.loading && <p className="text-muted-foreground" role="status">Loading conversation…</p>}
            {state.error && (
              <p role="alert" className="rounded-lg bg-destructive/10 px-3 py-2 text-destructive">
                {state.error}
              </p>
            )}
            {empty && !state.loading && !state.error && (
              <div className="flex flex-col items-center gap-3 pt-[20vh] text-center">
                <MessagesSquare className="size-10 text-muted-foreground" aria-hidden />
                <h1 className="text-2xl font-semibold">How can I help you today?</h1>
                {project && (
                  <p className="text-sm text-muted-foreground" data-testid="chat-project">
                    New chat in project <span className="font-medium text-foreground">{project.name}</span>
                  </p>
                )}
              </div>
            )}
            {hidden > 0 && (
              <Button variant="outline" size="sm" className="self-center" onClick={() => setVisibleCount((n) => n + PAGE_SIZE)}>
                Show {Math.min(hidden, PAGE_SIZE)} earlier messages
              </Button>
            )}
            <BusyContext.Provider value={running}>
              {shown.map((message, index) => (
                <MessageItem
                  key={messageKey(message, shown[index + 1])}
                  message={message}
                  {...branchFor(pathView, message)}
                  onSwitch={onSwitch}
                  onRegenerate={onRegenerate}
                  onEdit={onEdit}
                />
              ))}
            </BusyContext.Provider>
          </div>
        </div>
        <div className="relative shrink-0 px-3 pb-3 pt-1">
          {!atBottom && (
            <Button
              variant="outline"
              size="icon"
              className="absolute -top-12 left-1/2 -translate-x-1/2 rounded-full shadow"
              aria-label="Scroll to the latest message"
              onClick={scrollToBottom}
            >
              <ArrowDown aria-hidden />
            </Button>
          )}
          {notice && (
            <p role="alert" className="mx-auto mb-2 max-w-3xl rounded-lg bg-destructive/10 px-3 py-2 text-sm text-destructive">
              {notice}
            </p>
          )}
          <Composer
            draftKey={draftKey(userId, state.conversationId)}
            running={running}
            disabled={!controller || !model}
            onSend={(text) => {
              scrollToBottom();
              onSend(text);
            }}
            onStop={onStop}
          />
          <p className="mt-2 text-center text-xs text-muted-foreground">Answers can be wrong. Check what matters.</p>
        </div>
      </div>
      {settings.panel}
      {settings.dialog}
    </div>
  );
}
