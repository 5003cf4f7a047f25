"use client";
import { type FormEvent, type ReactNode, useEffect, useState } from "react";
import { ApiError } from "@/lib/api";
import {
  type CatalogModel,
  type ModelForm,
  type Provider,
  type ProviderForm,
  catalogApi,
  keyLabel,
  modelBody,
  modelForm,
  providerBody,
} from "@/lib/catalog";
import { useApp } from "./providers";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";
import { Input, Select, Textarea } from "./ui/input";
import { Label } from "./ui/label";

/** A refusal of the catalogue API as the admin reads it (`detail`, with what it means for a key). */
export function catalogErrorText(error: unknown): string {
  if (error instanceof ApiError && error.status === 503) return `${error.message} (the key was not saved)`;
  return error instanceof Error ? error.message : "Something went wrong. Please try again.";
}

function Field({ id, label, hint, children }: { id: string; label: string; hint?: string; children: ReactNode }) {
  return (
    <div className="space-y-1.5">
      <Label htmlFor={id}>{label}</Label>
      {children}
      {hint && <p className="text-xs text-muted-foreground">{hint}</p>}
    </div>
  );
}

function FormDialog({
  title,
  open,
  onClose,
  onSubmit,
  error,
  busy,
  children,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  onSubmit: () => void;
  error: string | null;
  busy: boolean;
  children: ReactNode;
}) {
  return (
    <Dialog open={open} onOpenChange={(next) => !next && onClose()}>
      <DialogContent className="max-h-[90dvh] overflow-y-auto">
        <DialogTitle>{title}</DialogTitle>
        <DialogDescription className="mb-4">Changes reach every worker within a second; no restart.</DialogDescription>
        <form
          className="space-y-4"
          onSubmit={(event: FormEvent) => {
            event.preventDefault();
            onSubmit();
          }}
        >
          {children}
          {error && (
            <p role="alert" className="rounded-lg bg-destructive/10 px-3 py-2 text-sm text-destructive">
              {error}
            </p>
          )}
          <div className="flex justify-end gap-2">
            <Button variant="outline" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" disabled={busy}>
              Save
            </Button>
          </div>
        </form>
      </DialogContent>
    </Dialog>
  );
}

const emptyProvider: ProviderForm = { name: "", baseUrl: "", apiKey: "", removeKey: false };

export function ProviderDialog({ editing, open, onClose, onSaved }: { editing: Provider | null; open: boolean; onClose: () => void; onSaved: () => void }) {
  const { api } = useApp();
  const [form, setForm] = useState<ProviderForm>(emptyProvider);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!open) return;
    setForm(editing ? { name: editing.name, baseUrl: editing.base_url, apiKey: "", removeKey: false } : emptyProvider);
    setError(null);
  }, [open, editing]);

  async function save() {
    setBusy(true);
    try {
      const body = providerBody(form, editing !== null);
      if (editing) await catalogApi.updateProvider(api, editing.id, body);
      else await catalogApi.createProvider(api, body);
      onSaved();
    } catch (caught) {
      setError(catalogErrorText(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <FormDialog title={editing ? `Edit provider ${editing.name}` : "Add provider"} open={open} onClose={onClose} onSubmit={() => void save()} error={error} busy={busy}>
      <Field id="provider-name" label="Provider name">
        <Input id="provider-name" required maxLength={100} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
      </Field>
      <Field id="provider-url" label="Base URL" hint="An OpenAI-compatible endpoint, e.g. http://llm.internal:8000/v1">
        <Input id="provider-url" required value={form.baseUrl} onChange={(e) => setForm({ ...form, baseUrl: e.target.value })} />
      </Field>
      <Field
        id="provider-key"
        label="API key"
        hint={editing?.has_key ? `Stored: ${keyLabel(editing)}. Leave empty to keep it.` : "Optional. Stored sealed; only its last four characters are shown."}
      >
        <Input
          id="provider-key"
          type="password"
          autoComplete="off"
          value={form.apiKey}
          disabled={form.removeKey}
          onChange={(e) => setForm({ ...form, apiKey: e.target.value })}
        />
      </Field>
      {editing?.has_key && (
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={form.removeKey} onChange={(e) => setForm({ ...form, removeKey: e.target.checked })} />
          Remove the stored key
        </label>
      )}
    </FormDialog>
  );
}

export function ModelDialog({
  editing,
  providers,
  open,
  onClose,
  onSaved,
}: {
  editing: CatalogModel | null;
  providers: Provider[];
  open: boolean;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api } = useApp();
  const [form, setForm] = useState<ModelForm>(() => modelForm());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!open) return;
    setForm(modelForm(editing ?? undefined, providers[0]?.id ?? ""));
    setError(null);
  }, [open, editing, providers]);
  const set = (patch: Partial<ModelForm>) => setForm((old) => ({ ...old, ...patch }));

  async function save() {
    setBusy(true);
    try {
      const body = modelBody(form);
      if (editing) await catalogApi.updateModel(api, editing.id, body);
      else await catalogApi.createModel(api, body);
      onSaved();
    } catch (caught) {
      setError(catalogErrorText(caught));
    } finally {
      setBusy(false);
    }
  }

  return (
    <FormDialog title={editing ? `Edit model ${editing.name}` : "Add model"} open={open} onClose={onClose} onSubmit={() => void save()} error={error} busy={busy}>
      <Field id="model-name" label="Model name" hint="What users pick: letters, digits and ._:/@+-">
        <Input id="model-name" required value={form.name} onChange={(e) => set({ name: e.target.value })} />
      </Field>
      <Field id="model-provider" label="Provider">
        <Select id="model-provider" value={form.providerId} onChange={(e) => set({ providerId: e.target.value })}>
          {!providers.length && <option value="">Add a provider first</option>}
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </Select>
      </Field>
      <Field id="model-upstream" label="Upstream model id" hint="The provider's own name for the model.">
        <Input id="model-upstream" required value={form.upstream} onChange={(e) => set({ upstream: e.target.value })} />
      </Field>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={form.enabled} onChange={(e) => set({ enabled: e.target.checked })} />
        Enabled
      </label>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field id="model-context" label="Context window">
          <Input id="model-context" inputMode="numeric" value={form.contextWindow} onChange={(e) => set({ contextWindow: e.target.value })} />
        </Field>
        <Field id="model-max-tokens" label="Max tokens">
          <Input id="model-max-tokens" inputMode="numeric" value={form.maxTokens} onChange={(e) => set({ maxTokens: e.target.value })} />
        </Field>
        <Field id="model-input-price" label="Input price per million tokens">
          <Input id="model-input-price" inputMode="decimal" value={form.inputPrice} onChange={(e) => set({ inputPrice: e.target.value })} />
        </Field>
        <Field id="model-output-price" label="Output price per million tokens">
          <Input id="model-output-price" inputMode="decimal" value={form.outputPrice} onChange={(e) => set({ outputPrice: e.target.value })} />
        </Field>
      </div>
      <Field id="model-concurrency" label="Concurrency" hint="Generations at once per worker; empty: the worker's default.">
        <Input id="model-concurrency" inputMode="numeric" placeholder="worker default" value={form.concurrency} onChange={(e) => set({ concurrency: e.target.value })} />
      </Field>
      <Field id="model-defaults" label="Default parameters (JSON)" hint='Extra request fields, e.g. {"top_p": 0.9}.'>
        <Textarea id="model-defaults" className="font-mono" placeholder="{}" value={form.defaults} onChange={(e) => set({ defaults: e.target.value })} />
      </Field>
    </FormDialog>
  );
}
