"use client";
import { ChevronDown, ChevronRight, Folder, MoreHorizontal, Pencil, Plus, Trash2 } from "lucide-react";
import Link from "next/link";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import { CHANGED_EVENT, type Project, announceChange, moveConversation } from "@/lib/library";
import type { ConversationPage, ConversationSummary } from "@/lib/types";
import { cn } from "@/lib/utils";
import { useApp } from "./providers";
import { useModels } from "./use-models";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";
import { DropdownMenu, DropdownMenuContent, DropdownMenuItem, DropdownMenuTrigger } from "./ui/dropdown-menu";
import { Input, Select, Textarea } from "./ui/input";
import { Label } from "./ui/label";

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : "That did not work. Please try again.";
}

/** The drag payload of a conversation dragged from the sidebar onto a project. */
export const DRAG_TYPE = "application/x-parley-conversation";

/** The user's projects, reloaded whenever something on the page announces a change. */
export function useProjects() {
  const { api, controller } = useApp();
  const [projects, setProjects] = useState<Project[]>([]);
  const load = useCallback(async () => {
    try {
      setProjects((await api.request<{ items: Project[] }>("GET", "/api/history/projects")).items);
    } catch {
      // the conversation list shows the outage
    }
  }, [api]);
  useEffect(() => {
    void load();
    window.addEventListener(CHANGED_EVENT, load);
    const off = controller?.onEvent((event) => {
      if (event.type === "finished") window.setTimeout(() => void load(), 800);
    });
    return () => {
      window.removeEventListener(CHANGED_EVENT, load);
      off?.();
    };
  }, [load, controller]);
  return projects;
}

function ProjectDialog({ project, open, onClose }: { project: Project | null; open: boolean; onClose: () => void }) {
  const { api } = useApp();
  const models = useModels();
  const [name, setName] = useState("");
  const [systemPrompt, setSystemPrompt] = useState("");
  const [model, setModel] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!open) return;
    setName(project?.name ?? "");
    setSystemPrompt(project?.system_prompt ?? "");
    setModel(project?.model ?? "");
    setError(null);
  }, [open, project]);

  async function save(event: FormEvent) {
    event.preventDefault();
    const body = { name: name.trim(), system_prompt: systemPrompt.trim() || null, model: model || null };
    try {
      if (project) await api.request("PATCH", `/api/history/projects/${project.id}`, body);
      else await api.request("POST", "/api/history/projects", body);
      announceChange();
      onClose();
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    <Dialog open={open} onOpenChange={(next) => !next && onClose()}>
      <DialogContent>
        <DialogTitle>{project ? "Edit project" : "New project"}</DialogTitle>
        <DialogDescription className="mb-4">New chats in the project start with its defaults.</DialogDescription>
        <form className="space-y-4" onSubmit={(e) => void save(e)}>
          <div className="space-y-1.5">
            <Label htmlFor="project-name">Project name</Label>
            <Input id="project-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="project-system-prompt">Default system prompt</Label>
            <Textarea id="project-system-prompt" value={systemPrompt} onChange={(e) => setSystemPrompt(e.target.value)} />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="project-model">Default model</Label>
            <Select id="project-model" value={model} onChange={(e) => setModel(e.target.value)}>
              <option value="">The chat&apos;s usual model</option>
              {model && !models.some((m) => m.name === model) && <option value={model}>{model}</option>}
              {models.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name}
                </option>
              ))}
            </Select>
          </div>
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

/** "Move to project…": pick a project (or none) for one conversation. */
export function MoveDialog({ conversation, onClose }: { conversation: ConversationSummary | null; onClose: () => void }) {
  const { api } = useApp();
  const projects = useProjects();
  const [target, setTarget] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setTarget(conversation?.project_id ?? "");
    setError(null);
  }, [conversation]);

  async function move(event: FormEvent) {
    event.preventDefault();
    if (!conversation) return;
    try {
      await moveConversation(api, conversation.id, target || null, { attempts: 3 });
      announceChange();
      onClose();
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    <Dialog open={conversation !== null} onOpenChange={(open) => !open && onClose()}>
      <DialogContent>
        <DialogTitle>Move to project</DialogTitle>
        <DialogDescription className="mb-4">“{conversation?.title}”</DialogDescription>
        <form className="space-y-4" onSubmit={(e) => void move(e)}>
          <div className="space-y-1.5">
            <Label htmlFor="move-project">Project</Label>
            <Select id="move-project" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">No project</option>
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </Select>
          </div>
          {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
          <div className="flex justify-end gap-2">
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit">Move</Button>
          </div>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function ProjectItem({
  project,
  currentId,
  onNavigate,
  onEdit,
  onDelete,
}: {
  project: Project;
  currentId: string | null;
  onNavigate?: () => void;
  onEdit: () => void;
  onDelete: () => void;
}) {
  const { api } = useApp();
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<ConversationSummary[]>([]);
  const [dropping, setDropping] = useState(false);
  const [dropError, setDropError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      const page = await api.request<ConversationPage>("GET", `/api/history/projects/${project.id}/conversations?limit=50`);
      setItems(page.items);
    } catch {
      setItems([]);
    }
  }, [api, project.id]);
  // Counts change when conversations move: reload the open list with them.
  useEffect(() => {
    if (open) void load();
  }, [open, load, project.conversation_count, project.updated_at]);

  return (
    <li data-testid="project" data-name={project.name}>
      <div
        className={cn("group relative rounded-lg", dropping && "ring-2 ring-ring")}
        onDragOver={(event) => {
          if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
          event.preventDefault();
          event.dataTransfer.dropEffect = "move";
          setDropping(true);
        }}
        onDragLeave={() => setDropping(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDropping(false);
          const id = event.dataTransfer.getData(DRAG_TYPE);
          if (!id) return;
          moveConversation(api, id, project.id, { attempts: 3 })
            .then(() => {
              setDropError(null);
              announceChange();
            })
            .catch((error) => setDropError(errorText(error)));
        }}
      >
        <button
          type="button"
          aria-expanded={open}
          onClick={() => setOpen((o) => !o)}
          className="flex w-full items-center gap-1.5 rounded-lg py-2 pl-2 pr-8 text-left text-sm hover:bg-accent focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
        >
          {open ? <ChevronDown className="size-3.5 shrink-0" aria-hidden /> : <ChevronRight className="size-3.5 shrink-0" aria-hidden />}
          <Folder className="size-4 shrink-0 text-muted-foreground" aria-hidden />
          <span className="truncate">{project.name}</span>
          <span className="ml-auto text-xs text-muted-foreground" data-testid="project-count" title={`${project.conversation_count} chats`} aria-hidden>
            {project.conversation_count}
          </span>
        </button>
        <DropdownMenu>
          <DropdownMenuTrigger asChild>
            <button
              type="button"
              aria-label={`Options for project ${project.name}`}
              className="absolute right-1 top-1.5 rounded-md p-1 text-muted-foreground hover:bg-background focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
            >
              <MoreHorizontal className="size-4" aria-hidden />
            </button>
          </DropdownMenuTrigger>
          <DropdownMenuContent align="end">
            <DropdownMenuItem asChild>
              <Link href={`/c/?project=${encodeURIComponent(project.id)}`} onClick={onNavigate}>
                <Plus aria-hidden /> New chat in project
              </Link>
            </DropdownMenuItem>
            <DropdownMenuItem onSelect={onEdit}>
              <Pencil aria-hidden /> Edit project
            </DropdownMenuItem>
            <DropdownMenuItem className="text-destructive" onSelect={onDelete}>
              <Trash2 aria-hidden /> Delete project
            </DropdownMenuItem>
          </DropdownMenuContent>
        </DropdownMenu>
      </div>
      {dropError && <p role="alert" className="px-2 text-xs text-destructive">{dropError}</p>}
      {open && (
        <ul className="ml-4 border-l border-border pl-1" aria-label={`Chats in ${project.name}`}>
          {items.map((c) => (
            <li key={c.id}>
              <Link
                href={`/c/?id=${encodeURIComponent(c.id)}`}
                onClick={onNavigate}
                aria-current={c.id === currentId ? "page" : undefined}
                className={cn(
                  "block truncate rounded-lg px-2 py-1.5 text-sm hover:bg-accent focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
                  c.id === currentId && "bg-accent font-medium",
                )}
              >
                {c.title || "New chat"}
              </Link>
            </li>
          ))}
          {!items.length && <li className="px-2 py-1.5 text-xs text-muted-foreground">No chats yet.</li>}
        </ul>
      )}
    </li>
  );
}

/** The sidebar's projects: expand one to see its chats; start a chat in it; edit, delete. */
export function ProjectsSection({ currentId, onNavigate }: { currentId: string | null; onNavigate?: () => void }) {
  const { api } = useApp();
  const projects = useProjects();
  const [editing, setEditing] = useState<{ project: Project | null } | null>(null);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function remove(project: Project) {
    setDeleting(null);
    try {
      await api.request("DELETE", `/api/history/projects/${project.id}`);
      announceChange();
    } catch (caught) {
      setError(errorText(caught));
    }
  }

  return (
    // A div, not a section: the date groups below are the list's sections.
    <div role="region" className="mt-1" aria-label="Projects">
      <div className="flex items-center justify-between px-2 pb-1">
        <h2 className="text-xs font-medium text-muted-foreground">Projects</h2>
        <Button variant="ghost" size="iconSm" aria-label="New project" title="New project" onClick={() => setEditing({ project: null })}>
          <Plus aria-hidden />
        </Button>
      </div>
      {error && <p role="alert" className="px-2 text-sm text-destructive">{error}</p>}
      <ul>
        {projects.map((p) => (
          <ProjectItem
            key={p.id}
            project={p}
            currentId={currentId}
            onNavigate={onNavigate}
            onEdit={() => setEditing({ project: p })}
            onDelete={() => setDeleting(p)}
          />
        ))}
      </ul>
      <ProjectDialog open={editing !== null} project={editing?.project ?? null} onClose={() => setEditing(null)} />
      <Dialog open={deleting !== null} onOpenChange={(open) => !open && setDeleting(null)}>
        <DialogContent>
          <DialogTitle>Delete project {deleting?.name}?</DialogTitle>
          <DialogDescription>Its chats are kept, outside any project.</DialogDescription>
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
    </div>
  );
}
