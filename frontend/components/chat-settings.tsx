"use client";
import { SlidersHorizontal, X } from "lucide-react";
import { useEffect, useState } from "react";
import { type SavedPrompt, promptsQuery } from "@/lib/library";
import { useApp } from "./providers";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";
import { Input, Select, Textarea } from "./ui/input";
import { Label } from "./ui/label";

export interface ChatParams {
  systemPrompt: string;
  temperature: number;
  maxTokens: number | null;
}

const WIDE = "(min-width: 1280px)";

/** Saved prompts the user may use (own and shared), loaded when the settings open. */
function useSavedPrompts(): SavedPrompt[] {
  const { api } = useApp();
  const [prompts, setPrompts] = useState<SavedPrompt[]>([]);
  useEffect(() => {
    let cancelled = false;
    api
      .request<{ items: SavedPrompt[] }>("GET", promptsQuery("all", "", ""))
      .then((page) => !cancelled && setPrompts(page.items))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [api]);
  return prompts;
}

function ChatSettingsForm({ value, onSubmit, idPrefix }: { value: ChatParams; onSubmit: (value: ChatParams) => void; idPrefix: string }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const saved = useSavedPrompts();
  return (
    <form
      className="space-y-4"
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit(draft);
      }}
    >
      <div className="space-y-1.5">
        <Label htmlFor={`${idPrefix}-library`}>Prompt library</Label>
        <Select
          id={`${idPrefix}-library`}
          value=""
          onChange={(e) => {
            const picked = saved.find((p) => p.id === e.target.value);
            if (picked) setDraft({ ...draft, systemPrompt: picked.text });
          }}
        >
          <option value="">{saved.length ? "Fill the system prompt from…" : "No saved prompts yet"}</option>
          {saved.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
              {p.mine ? "" : " (shared)"}
            </option>
          ))}
        </Select>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor={`${idPrefix}-system-prompt`}>System prompt</Label>
        <Textarea
          id={`${idPrefix}-system-prompt`}
          value={draft.systemPrompt}
          placeholder="You are a helpful assistant."
          onChange={(e) => setDraft({ ...draft, systemPrompt: e.target.value })}
        />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor={`${idPrefix}-temperature`}>Temperature ({draft.temperature.toFixed(1)})</Label>
        <input
          id={`${idPrefix}-temperature`}
          type="range"
          min={0}
          max={2}
          step={0.1}
          value={draft.temperature}
          onChange={(e) => setDraft({ ...draft, temperature: Number(e.target.value) })}
          className="w-full"
        />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor={`${idPrefix}-max-tokens`}>Max tokens</Label>
        <Input
          id={`${idPrefix}-max-tokens`}
          type="number"
          min={1}
          placeholder="model default"
          value={draft.maxTokens ?? ""}
          onChange={(e) => setDraft({ ...draft, maxTokens: e.target.value ? Math.max(1, Number(e.target.value)) : null })}
        />
      </div>
      <div className="flex justify-end">
        <Button type="submit">Save</Button>
      </div>
    </form>
  );
}

/** The chat's settings: a side panel on wide screens (the third column), a dialog elsewhere. */
export function useChatSettings(value: ChatParams, onChange: (value: ChatParams) => void) {
  const [dialog, setDialog] = useState(false);
  const [panel, setPanel] = useState(false);

  const button = (
    <Button
      variant="ghost"
      size="icon"
      aria-label="Chat settings"
      title="Chat settings"
      aria-expanded={panel || dialog}
      onClick={() => (window.matchMedia(WIDE).matches ? setPanel((open) => !open) : setDialog(true))}
    >
      <SlidersHorizontal aria-hidden />
    </Button>
  );

  const dialogElement = (
    <Dialog open={dialog} onOpenChange={setDialog}>
      <DialogContent>
        <DialogTitle>Chat settings</DialogTitle>
        <DialogDescription className="mb-4">Apply to the next messages of this chat.</DialogDescription>
        <ChatSettingsForm
          idPrefix="dialog"
          value={value}
          onSubmit={(next) => {
            onChange(next);
            setDialog(false);
          }}
        />
      </DialogContent>
    </Dialog>
  );

  const panelElement = panel ? (
    <aside className="hidden w-80 shrink-0 overflow-y-auto border-l border-border p-4 xl:block" aria-label="Chat settings">
      <div className="mb-4 flex items-center justify-between">
        <h2 className="font-semibold">Chat settings</h2>
        <Button variant="ghost" size="iconSm" aria-label="Close chat settings" onClick={() => setPanel(false)}>
          <X aria-hidden />
        </Button>
      </div>
      <ChatSettingsForm idPrefix="panel" value={value} onSubmit={onChange} />
    </aside>
  ) : null;

  return { button, dialog: dialogElement, panel: panelElement };
}
