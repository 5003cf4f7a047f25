"use client";
import { AlertCircle, ChevronLeft, ChevronRight, Loader2, Pencil, RefreshCw } from "lucide-react";
import { type ComponentProps, createContext, memo, useContext, useState } from "react";
import { liveMetrics, type StreamState } from "@/lib/stream";
import type { TreeMessage } from "@/lib/tree";
import { formatNumber } from "@/lib/utils";
import { CopyButton, Markdown } from "./markdown";
import { Button } from "./ui/button";
import { Textarea } from "./ui/input";
import { useStream } from "./use-stream";

/** Where a message stands among its versions; a count of 1 shows no arrows. */
export interface BranchInfo {
  branchIndex: number;
  branchCount: number;
}

/** An answer is streaming: regenerate, retry, edit and resend wait. A context, so that its
 * changes re-render these buttons, not every message of a long chat. */
export const BusyContext = createContext(false);

function IdleButton(props: ComponentProps<typeof Button>) {
  const busy = useContext(BusyContext);
  return <Button {...props} disabled={busy || props.disabled} />;
}

function IdleAction(props: ComponentProps<"button">) {
  const busy = useContext(BusyContext);
  return <button type="button" {...props} disabled={busy || props.disabled} />;
}

interface MessageItemProps extends BranchInfo {
  message: TreeMessage;
  onSwitch: (message: TreeMessage, step: number) => void;
  onRegenerate: (answer: TreeMessage) => void;
  onEdit: (prompt: TreeMessage, text: string) => void;
}

const actionClass =
  "inline-flex items-center rounded-md p-1.5 text-muted-foreground hover:bg-accent hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:opacity-40";

function BranchSwitcher({ branch, onStep }: { branch: { index: number; count: number }; onStep: (step: number) => void }) {
  return (
    <div className="flex items-center text-xs text-muted-foreground" data-testid="branch-switcher">
      <button type="button" className={actionClass} aria-label="Previous version" disabled={branch.index === 0} onClick={() => onStep(-1)}>
        <ChevronLeft className="size-4" aria-hidden />
      </button>
      <span aria-live="polite">
        {branch.index + 1} / {branch.count}
      </span>
      <button
        type="button"
        className={actionClass}
        aria-label="Next version"
        disabled={branch.index === branch.count - 1}
        onClick={() => onStep(1)}
      >
        <ChevronRight className="size-4" aria-hidden />
      </button>
    </div>
  );
}

function branchOf({ branchIndex, branchCount }: BranchInfo) {
  return branchCount > 1 ? { index: branchIndex, count: branchCount } : null;
}

function UserMessage(props: MessageItemProps) {
  const { message, onSwitch, onEdit } = props;
  const branch = branchOf(props);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  if (editing) {
    return (
      <div className="chat-message flex justify-end" data-role="user">
        <form
          className="w-full max-w-[85%] space-y-2 rounded-2xl bg-muted p-3"
          onSubmit={(event) => {
            event.preventDefault();
            if (!draft.trim()) return;
            setEditing(false);
            onEdit(message, draft.trim());
          }}
        >
          <Textarea aria-label="Edit message" value={draft} onChange={(e) => setDraft(e.target.value)} autoFocus />
          <div className="flex justify-end gap-2">
            <Button variant="ghost" size="sm" onClick={() => setEditing(false)}>
              Cancel
            </Button>
            <IdleButton type="submit" size="sm">
              Send
            </IdleButton>
          </div>
        </form>
      </div>
    );
  }
  return (
    <div className="chat-message group flex flex-col items-end gap-1" data-role="user">
      <div className="max-w-[85%] whitespace-pre-wrap rounded-2xl bg-muted px-4 py-2.5" data-testid="user-message">
        {message.content}
      </div>
      <div className="flex items-center gap-1 opacity-100 md:opacity-0 md:group-hover:opacity-100 md:focus-within:opacity-100">
        {branch && <BranchSwitcher branch={branch} onStep={(step) => onSwitch(message, step)} />}
        <CopyButton text={message.content} label="Copy message" className={actionClass} />
        <IdleAction
          className={actionClass}
          aria-label="Edit message"
          onClick={() => {
            setDraft(message.content);
            setEditing(true);
          }}
        >
          <Pencil className="size-4" aria-hidden />
        </IdleAction>
      </div>
    </div>
  );
}

function Figures({ message, stream }: { message: TreeMessage; stream: StreamState | undefined }) {
  const live = stream ? liveMetrics(stream, Date.now()) : null;
  const ttft = live?.ttftMs ?? message.ttft_ms ?? null;
  const speed = live?.tokensPerS ?? message.tokens_per_s ?? null;
  const promptTokens = stream?.usage?.prompt_tokens ?? message.prompt_tokens ?? null;
  const completionTokens = stream?.usage?.completion_tokens ?? message.completion_tokens ?? null;
  const parts: string[] = [];
  if (ttft !== null) parts.push(`TTFT ${formatNumber(ttft)} ms`);
  if (speed !== null) parts.push(`${stream && !stream.metrics ? "~" : ""}${formatNumber(speed, 1)} tok/s`);
  if (promptTokens !== null && completionTokens !== null) parts.push(`${promptTokens} → ${completionTokens} tokens`);
  if (!parts.length) return null;
  return (
    <span className="text-xs tabular-nums text-muted-foreground" data-testid="figures">
      {parts.join(" · ")}
    </span>
  );
}

function AssistantMessage(props: MessageItemProps) {
  const { message, onSwitch, onRegenerate } = props;
  const branch = branchOf(props);
  const stream = useStream(message.id);
  const text = stream && stream.status !== "waiting" ? stream.text : message.content || stream?.text || "";
  const failed = stream?.status === "error" || (!stream && message.status === "failed") || message.status === "failed";
  const errorText = stream?.error?.message ?? message.error_message ?? "The answer failed.";
  const running = stream ? stream.status === "waiting" || stream.status === "streaming" : message.status === "pending";
  const finish = stream?.finishReason ?? message.finish_reason ?? null;
  return (
    <div
      className="chat-message group flex flex-col gap-1"
      data-role="assistant"
      data-message-id={message.id}
      data-status={failed ? "failed" : running ? "streaming" : "done"}
    >
      {text && <Markdown text={text} />}
      {running && !text && !failed && (
        <div className="flex items-center gap-2 text-muted-foreground" role="status">
          <Loader2 className="size-4 animate-spin" aria-hidden /> Thinking…
        </div>
      )}
      {running && text && <span className="sr-only" role="status">Answer streaming</span>}
      {failed && (
        <div role="alert" className="flex flex-wrap items-center gap-2 rounded-lg border border-destructive/40 bg-destructive/10 px-3 py-2 text-sm text-destructive">
          <AlertCircle className="size-4" aria-hidden />
          <span className="flex-1">{errorText}</span>
          <IdleButton size="sm" variant="outline" onClick={() => onRegenerate(message)}>
            <RefreshCw aria-hidden /> Retry
          </IdleButton>
        </div>
      )}
      {finish === "cancelled" && <p className="text-xs text-muted-foreground">Stopped.</p>}
      {finish === "length" && <p className="text-xs text-muted-foreground">Cut off at the token limit.</p>}
      <div className="flex min-h-8 flex-wrap items-center gap-1">
        {branch && <BranchSwitcher branch={branch} onStep={(step) => onSwitch(message, step)} />}
        {!running && !failed && (
          <>
            <CopyButton text={text} label="Copy answer" className={actionClass} />
            <IdleAction className={actionClass} aria-label="Regenerate" onClick={() => onRegenerate(message)}>
              <RefreshCw className="size-4" aria-hidden />
            </IdleAction>
          </>
        )}
        <Figures message={message} stream={stream} />
      </div>
    </div>
  );
}

export const MessageItem = memo(function MessageItem(props: MessageItemProps) {
  return props.message.role === "user" ? <UserMessage {...props} /> : <AssistantMessage {...props} />;
});
