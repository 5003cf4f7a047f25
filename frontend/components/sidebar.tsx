"use client";
import { BookText, Download, FolderInput, LogOut, MoreHorizontal, Pencil, Pin, PinOff, Plus, Search, Settings, Shield, Trash2 } from "lucide-react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { type FormEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError } from "@/lib/api";
import { groupByDate } from "@/lib/dates";
import { CHANGED_EVENT, outsideProjects } from "@/lib/library";
import { saveResponse } from "@/lib/download";
import type { ConversationPage, ConversationSummary } from "@/lib/types";
import { cn } from "@/lib/utils";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";
import { DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuTrigger } from "./ui/dropdown-menu";
import { Input } from "./ui/input";
import { DRAG_TYPE, MoveDialog, ProjectsSection } from "./projects";
import { useApp } from "./providers";
import { ThemeToggle } from "./theme-toggle";

function useConversations(query: string) {
  const { api, controller } = useApp();
  const [items, setItems] = useState<ConversationSummary[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const queryRef = useRef(query);
  queryRef.current = query;

  const load = useCallback(
    async (more: string | null = null) => {
      const params = new URLSearchParams({ limit: "50" });
      if (queryRef.current) params.set("q", queryRef.current);
      if (more) params.set("cursor", more);
      try {
        const page = await api.request<ConversationPage>("GET", `/api/history/conversations?${params}`);
        setItems((old) => (more ? [...old, ...page.items] : page.items));
        setCursor(page.next_cursor);
        setError(null);
      } catch (caught) {
        setError(caught instanceof ApiError ? caught.message : "Could not load conversations.");
      }
    },
    [api],
  );

  useEffect(() => {
    const timer = window.setTimeout(() => void load(), query ? 250 : 0);
    return () => window.clearTimeout(timer);
  }, [query, load]);

  // Moves and project deletions elsewhere on the page.
  useEffect(() => {
    const reload = () => void load();
    window.addEventListener(CHANGED_EVENT, reload);
    return () => window.removeEventListener(CHANGED_EVENT, reload);
  }, [load]);

  // New chats and fresh titles: history learns them from events, a moment after the stream.
  useEffect(() => {
    if (!controller) return;
    const timers: number[] = [];
    const off = controller.onEvent((event) => {
      if (event.type === "accepted" || event.type === "finished") {
        // A busy history may take seconds: ask a few more times, further apart.
        for (const delay of [400, 1500, 3500, 7000]) timers.push(window.setTimeout(() => void load(), delay));
      }
    });
    return () => {
      off();
      timers.forEach((t) => window.clearTimeout(t));
    };
  }, [controller, load]);

  return { items, setItems, cursor, error, load };
}

interface SidebarProps {
  currentId: string | null;
  onNavigate?: () => void;
}

export function Sidebar({ currentId, onNavigate }: SidebarProps) {
  const { api, user, logout } = useApp();
  const router = useRouter();
  const [query, setQuery] = useState("");
  const { items, setItems, cursor, error, load } = useConversations(query);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [renameText, setRenameText] = useState("");
  const [deleting, setDeleting] = useState<ConversationSummary | null>(null);
  const [moving, setMoving] = useState<ConversationSummary | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  // Chats in a project are listed under it; a search finds them all.
  const groups = useMemo(() => groupByDate(query ? items : outsideProjects(items)), [items, query]);

  async function patch(id: string, body: { title?: string; pinned?: boolean }) {
    try {
      const updated = await api.request<ConversationSummary>("PATCH", `/api/history/conversations/${id}`, body);
      setItems((old) => old.map((c) => (c.id === id ? { ...c, title: updated.title, pinned: updated.pinned } : c)));
      setActionError(null);
    } catch (caught) {
      setActionError(caught instanceof ApiError ? caught.message : "That did not work. Please try again.");
    }
  }

  async function rename(event: FormEvent, id: string) {
    event.preventDefault();
    const title = renameText.trim();
    setRenaming(null);
    if (title) await patch(id, { title });
  }

  async function exportAs(conversation: ConversationSummary, format: "md" | "json") {
    try {
      const path = `/api/history/conversations/${conversation.id}/export?format=${format}`;
      await saveResponse(await api.fetchWithAuth("GET", path), `conversation.${format}`);
    } catch (caught) {
      setActionError(caught instanceof ApiError ? caught.message : "Could not export the conversation.");
    }
  }

  async function remove(conversation: ConversationSummary) {
    setDeleting(null);
    try {
      await api.request("DELETE", `/api/history/conversations/${conversation.id}`);
      setItems((old) => old.filter((c) => c.id !== conversation.id));
      if (conversation.id === currentId) router.push("/c/");
    } catch (caught) {
      setActionError(caught instanceof ApiError ? caught.message : "Could not delete the conversation.");
    }
  }

  return (
    <nav aria-label="Conversations" className="flex h-full w-full flex-col bg-sidebar">
      <div className="flex items-center gap-2 p-3">
        <Button asChild variant="outline" className="flex-1 justify-start">
          <Link href="/c/" onClick={onNavigate}>
            <Plus aria-hidden /> New chat
          </Link>
        </Button>
        <ThemeToggle />
      </div>
      <div className="relative px-3 pb-2">
        <Search className="pointer-events-none absolute left-5 top-2.5 size-4 text-muted-foreground" aria-hidden />
        <Input aria-label="Search conversations" placeholder="Search" className="pl-8" value={query} onChange={(e) => setQuery(e.target.value)} />
      </div>
      <div className="flex-1 overflow-y-auto px-2 pb-2" data-testid="conversation-list">
        {error && <p role="alert" className="px-2 text-sm text-destructive">{error}</p>}
        {actionError && <p role="alert" className="px-2 text-sm text-destructive">{actionError}</p>}
        {!query && <ProjectsSection currentId={currentId} onNavigate={onNavigate} />}
        {!items.length && !error && <p className="px-2 py-4 text-sm text-muted-foreground">{query ? "No matches." : "No conversations yet."}</p>}
        {groups.map((group) => (
          <section key={group.label} className="mt-3">
            <h2 className="px-2 pb-1 text-xs font-medium text-muted-foreground">{group.label}</h2>
            <ul>
              {group.items.map((conversation) => (
                <li key={conversation.id} className="group relative">
                  {renaming === conversation.id ? (
                    <form onSubmit={(e) => rename(e, conversation.id)} className="px-1 py-0.5">
                      <Input
                        aria-label="New title"
                        autoFocus
                        value={renameText}
                        maxLength={200}
                        onChange={(e) => setRenameText(e.target.value)}
                        onBlur={(e) => rename(e, conversation.id)}
                        onKeyDown={(e) => e.key === "Escape" && setRenaming(null)}
                      />
                    </form>
                  ) : (
                    <>
                      <Link
                        href={`/c/?id=${encodeURIComponent(conversation.id)}`}
                        onClick={onNavigate}
                        draggable
                        onDragStart={(event) => {
                          event.dataTransfer.setData(DRAG_TYPE, conversation.id);
                          event.dataTransfer.effectAllowed = "move";
                        }}
                        aria-current={conversation.id === currentId ? "page" : undefined}
                        className={cn(
                          "block truncate rounded-lg py-2 pl-2 pr-8 text-sm hover:bg-accent focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
                          conversation.id === currentId && "bg-accent font-medium",
                        )}
                      >
                        {conversation.pinned && <Pin className="mr-1 inline size-3" aria-label="Pinned" />}
                        {conversation.title || "New chat"}
                      </Link>
                      <DropdownMenu>
                        <DropdownMenuTrigger asChild>
                          <button
                            type="button"
                            aria-label={`Options for ${conversation.title || "conversation"}`}
                            className="absolute right-1 top-1.5 rounded-md p-1 text-muted-foreground opacity-100 hover:bg-background focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring md:opacity-0 md:group-hover:opacity-100 md:focus:opacity-100 data-[state=open]:opacity-100"
                          >
                            <MoreHorizontal className="size-4" aria-hidden />
                          </button>
                        </DropdownMenuTrigger>
                        <DropdownMenuContent align="end">
                          <DropdownMenuItem
                            onSelect={() => {
                              setRenameText(conversation.title);
                              setRenaming(conversation.id);
                            }}
                          >
                            <Pencil aria-hidden /> Rename
                          </DropdownMenuItem>
                          <DropdownMenuItem onSelect={() => void patch(conversation.id, { pinned: !conversation.pinned })}>
                            {conversation.pinned ? <PinOff aria-hidden /> : <Pin aria-hidden />} {conversation.pinned ? "Unpin" : "Pin"}
                          </DropdownMenuItem>
                          <DropdownMenuItem onSelect={() => setMoving(conversation)}>
                            <FolderInput aria-hidden /> Move to project…
                          </DropdownMenuItem>
                          <DropdownMenuItem onSelect={() => void exportAs(conversation, "md")}>
                            <Download aria-hidden /> Export Markdown
                          </DropdownMenuItem>
                          <DropdownMenuItem onSelect={() => void exportAs(conversation, "json")}>
                            <Download aria-hidden /> Export JSON
                          </DropdownMenuItem>
                          <DropdownMenuItem className="text-destructive" onSelect={() => setDeleting(conversation)}>
                            <Trash2 aria-hidden /> Delete
                          </DropdownMenuItem>
                        </DropdownMenuContent>
                      </DropdownMenu>
                    </>
                  )}
                </li>
              ))}
            </ul>
          </section>
        ))}
        {cursor && (
          <Button variant="ghost" size="sm" className="mt-2 w-full" onClick={() => void load(cursor)}>
            Load more
          </Button>
        )}
      </div>
      <div className="border-t border-border p-2">
        {user?.role === "admin" && (
          <Button asChild variant="ghost" className="w-full justify-start">
            <Link href="/admin/" onClick={onNavigate}>
              <Shield aria-hidden /> Admin
            </Link>
          </Button>
        )}
        <Button asChild variant="ghost" className="w-full justify-start">
          <Link href="/library/" onClick={onNavigate}>
            <BookText aria-hidden /> Prompt library
          </Link>
        </Button>
        <Button asChild variant="ghost" className="w-full justify-start">
          <Link href="/settings/" onClick={onNavigate}>
            <Settings aria-hidden /> Settings
          </Link>
        </Button>
        <Button variant="ghost" className="w-full justify-start" onClick={() => void logout()}>
          <LogOut aria-hidden /> Log out
        </Button>
        <p className="truncate px-3 pt-1 text-xs text-muted-foreground" title={user?.email}>
          {user?.display_name} · {user?.email}
        </p>
      </div>
      <MoveDialog conversation={moving} onClose={() => setMoving(null)} />
      <Dialog open={deleting !== null} onOpenChange={(open) => !open && setDeleting(null)}>
        <DialogContent>
          <DialogTitle>Delete this chat?</DialogTitle>
          <DialogDescription>“{deleting?.title}” and its messages will be deleted for good.</DialogDescription>
          <div className="mt-6 flex justify-end gap-2">
            <Button variant="outline" onClick={() => setDeleting(null)}>
              Cancel
            </Button>
            <Button variant="destructive" onClick={() => deleting && void remove(deleting)}>
              Delete
            </Button>
          </div>
        </DialogContent>
      </Dialog>
    </nav>
  );
}
