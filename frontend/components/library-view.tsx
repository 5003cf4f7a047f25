"use client";
import { Pencil, Plus, Share2, Trash2, Users } from "lucide-react";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import { type PromptScope, type SavedPrompt, parseTags, promptsQuery } from "@/lib/library";
import { PageFrame } from "./page-frame";
import { useApp } from "./providers";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";
import { Input, Select, Textarea } from "./ui/input";
import { Label } from "./ui/label";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : "That did not work. Please try again.";
}

function PromptDialog({ prompt, open, onClose, onSaved }: { prompt: SavedPrompt | null; open: boolean; onClose: () => void; onSaved: () => void }) {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [text, setText] = useState("");
  const [tags, setTags] = useState("");
  const [shared, setShared] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open) return;
    setName(prompt?.name ?? "");
    setText(prompt?.text ?? "");
    setTags(prompt?.tags.join(", ") ?? "");
    setShared(prompt?.shared ?? false);
    setError(null);
  }, [open, prompt]);

  async function save(event: FormEvent) {
    event.preventDefault();
    const body = { name: name.trim(), text, tags: parseTags(tags), shared };
    try {
      if (prompt) await api.request("PATCH", `/api/history/prompts/${prompt.id}`, body);
      else await api.request("POST", "/api/history/prompts", body);
      onSaved();
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    <Dialog open={open} onOpenChange={(next) => !next && onClose()}>
      <DialogContent className="max-h-[90dvh] overflow-y-auto">
        <DialogTitle>{prompt ? "Edit prompt" : "New prompt"}</DialogTitle>
        <DialogDescription className="mb-4">A system prompt to start chats from.</DialogDescription>
        <form className="space-y-4" onSubmit={(e) => void save(e)}>
          <div className="space-y-1.5">
            <Label htmlFor="prompt-name">Prompt name</Label>
            <Input id="prompt-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="prompt-text">Prompt text</Label>
            <Textarea id="prompt-text" required className="min-h-32" value={text} onChange={(e) => setText(e.target.value)} />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="prompt-tags">Tags</Label>
            <Input id="prompt-tags" placeholder="writing, code" value={tags} onChange={(e) => setTags(e.target.value)} />
            <p className="text-xs text-muted-foreground">Separated by commas; up to 10.</p>
          </div>
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} />
            Share with everyone
          </label>
          {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
          <div className="flex justify-end gap-2">
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit">Save</Button>
          </div>
        </form>
      </DialogContent>
    </Dialog>
  );
}

export function LibraryView() {
  const { api, user } = useApp();
  const [scope, setScope] = useState<PromptScope>("all");
  const [tag, setTag] = useState("");
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<SavedPrompt[]>([]);
  const [tags, setTags] = useState<{ tag: string; count: number }[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ prompt: SavedPrompt | null } | null>(null);
  const [deleting, setDeleting] = useState<SavedPrompt | null>(null);

  const load = useCallback(async () => {
    try {
      const [page, tagList] = await Promise.all([
        api.request<{ items: SavedPrompt[] }>("GET", promptsQuery(scope, tag, query)),
        api.request<{ items: { tag: string; count: number }[] }>("GET", `/api/history/prompts/tags?scope=${scope}`),
      ]);
      setItems(page.items);
      setTags(tagList.items);
      setError(null);
    } catch (caught) {
      setError(errorText(caught));
    }
  }, [api, scope, tag, query]);
  useEffect(() => {
    const timer = window.setTimeout(() => void load(), query ? 250 : 0);
    return () => window.clearTimeout(timer);
  }, [load, query]);

  async function act(action: () => Promise<unknown>) {
    try {
      await action();
    } catch (caught) {
      setError(errorText(caught));
    }
    await load();
  }

  return (
    <PageFrame title="Prompt library">
      <div className="flex flex-wrap items-end gap-3">
        <div className="space-y-1.5">
          <Label htmlFor="library-scope">Show</Label>
          <Select id="library-scope" className="w-40" value={scope} onChange={(e) => setScope(e.target.value as PromptScope)}>
            <option value="all">All I can use</option>
            <option value="own">Mine</option>
            <option value="shared">Shared</option>
          </Select>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="library-tag">Tag</Label>
          <Select id="library-tag" className="w-40" value={tag} onChange={(e) => setTag(e.target.value)}>
            <option value="">Any tag</option>
            {tags.map((t) => (
              <option key={t.tag} value={t.tag}>
                {t.tag} ({t.count})
              </option>
            ))}
          </Select>
        </div>
        <Input aria-label="Search prompts" placeholder="Search" className="w-56" value={query} onChange={(e) => setQuery(e.target.value)} />
        <Button className="ml-auto" onClick={() => setEditing({ prompt: null })}>
          <Plus aria-hidden /> New prompt
        </Button>
      </div>
      {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
      <ul className="space-y-3" aria-label="Saved prompts">
        {items.map((p) => (
          <li key={p.id} className="rounded-xl border border-border bg-card p-4" data-testid="saved-prompt">
            <div className="flex flex-wrap items-center gap-2">
              <h2 className="font-semibold">{p.name}</h2>
              {p.shared && (
                <span className="inline-flex items-center gap-1 rounded-full bg-muted px-2 py-0.5 text-xs">
                  <Users className="size-3" aria-hidden /> shared
                </span>
              )}
              {!p.mine && <span className="text-xs text-muted-foreground">by someone else</span>}
              {p.tags.map((t) => (
                <button key={t} type="button" className="rounded-full border border-border px-2 py-0.5 text-xs hover:bg-accent" onClick={() => setTag(t)}>
                  #{t}
                </button>
              ))}
              <div className="ml-auto flex gap-1">
                {p.mine && (
                  <>
                    <Button variant="ghost" size="iconSm" aria-label={`Edit ${p.name}`} onClick={() => setEditing({ prompt: p })}>
                      <Pencil aria-hidden />
                    </Button>
                    <Button
                      variant="ghost"
                      size="sm"
                      aria-label={`${p.shared ? "Unshare" : "Share"} ${p.name}`}
                      onClick={() => void act(() => api.request("PATCH", `/api/history/prompts/${p.id}`, { shared: !p.shared }))}
                    >
                      <Share2 aria-hidden /> {p.shared ? "Unshare" : "Share"}
                    </Button>
                    <Button variant="ghost" size="iconSm" aria-label={`Delete ${p.name}`} onClick={() => setDeleting(p)}>
                      <Trash2 aria-hidden />
                    </Button>
                  </>
                )}
                {!p.mine && p.shared && user?.role === "admin" && (
                  <Button variant="ghost" size="sm" aria-label={`Unshare ${p.name}`} onClick={() => void act(() => api.request("PATCH", `/api/history/prompts/${p.id}`, { shared: false }))}>
                    Unshare
                  </Button>
                )}
              </div>
            </div>
            <p className="mt-2 line-clamp-3 whitespace-pre-wrap text-sm text-muted-foreground">{p.text}</p>
          </li>
        ))}
        {!items.length && !error && <li className="text-sm text-muted-foreground">No saved prompts here yet.</li>}
      </ul>
      <PromptDialog
        open={editing !== null}
        prompt={editing?.prompt ?? null}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          void load();
        }}
      />
      <Dialog open={deleting !== null} onOpenChange={(open) => !open && setDeleting(null)}>
        <DialogContent>
          <DialogTitle>Delete {deleting?.name}?</DialogTitle>
          <DialogDescription>Chats that used it keep their system prompt.</DialogDescription>
          <div className="mt-6 flex justify-end gap-2">
            <Button variant="outline" onClick={() => setDeleting(null)}>
              Cancel
            </Button>
            <Button
              variant="destructive"
              onClick={() => {
                const target = deleting;
                setDeleting(null);
                if (target) void act(() => api.request("DELETE", `/api/history/prompts/${target.id}`));
              }}
            >
              Delete
            </Button>
          </div>
        </DialogContent>
      </Dialog>
    </PageFrame>
  );
}
