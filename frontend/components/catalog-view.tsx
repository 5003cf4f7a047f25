"use client";
import { Pencil, Plus, Trash2 } from "lucide-react";
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { type Catalog, type CatalogModel, type Provider, catalogApi, keyLabel } from "@/lib/catalog";
import { formatNumber } from "@/lib/utils";
import { ModelDialog, ProviderDialog, catalogErrorText } from "./catalog-dialogs";
import { PageFrame, Section } from "./page-frame";
import { useApp } from "./providers";
import { Button } from "./ui/button";
import { Dialog, DialogContent, DialogDescription, DialogTitle } from "./ui/dialog";

type Editing = { kind: "provider"; item: Provider | null } | { kind: "model"; item: CatalogModel | null } | null;
type Deleting = { kind: "provider"; item: Provider } | { kind: "model"; item: CatalogModel } | null;

export function CatalogView() {
  const { api } = useApp();
  const [catalog, setCatalog] = useState<Catalog | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing>(null);
  const [deleting, setDeleting] = useState<Deleting>(null);

  const load = useCallback(async () => {
    try {
      setCatalog(await catalogApi.get(api));
    } catch (caught) {
      setError(catalogErrorText(caught));
    }
  }, [api]);
  useEffect(() => void load(), [load]);

  async function act(action: () => Promise<unknown>) {
    try {
      await action();
      setError(null);
    } catch (caught) {
      setError(catalogErrorText(caught));
    }
    await load();
  }

  /** Shown at once; the reload after the call shows what the service kept. */
  function toggle(model: CatalogModel, enabled: boolean) {
    setCatalog((old) => old && { ...old, models: old.models.map((m) => (m.id === model.id ? { ...m, enabled } : m)) });
    void act(() => catalogApi.updateModel(api, model.id, { enabled }));
  }

  function saved() {
    setEditing(null);
    setError(null);
    void load();
  }

  const providers = catalog?.providers ?? [];
  const providerName = (id: string) => providers.find((p) => p.id === id)?.name ?? "unknown";

  return (
    <PageFrame title="Model catalogue">
      <p className="text-sm text-muted-foreground">
        Providers and the models users can pick. <Link href="/admin/" className="text-ring underline">Back to admin</Link>
        {catalog && <span> · revision {catalog.revision}</span>}
      </p>
      {error && (
        <p role="alert" data-testid="catalog-error" className="rounded-lg bg-destructive/10 px-3 py-2 text-sm text-destructive">
          {error}
        </p>
      )}
      <Section title="Providers" description="OpenAI-compatible endpoints. Keys are write-only.">
        <div className="overflow-x-auto">
          <table className="w-full text-sm" aria-label="Providers">
            <thead className="text-left text-muted-foreground">
              <tr>
                <th className="py-1 font-medium">Name</th>
                <th className="py-1 font-medium">Base URL</th>
                <th className="py-1 font-medium">Key</th>
                <th className="py-1 font-medium sr-only">Actions</th>
              </tr>
            </thead>
            <tbody>
              {providers.map((p) => (
                <tr key={p.id} className="border-t border-border">
                  <td className="py-2 font-medium">{p.name}</td>
                  <td className="max-w-64 truncate py-2 font-mono text-xs" title={p.base_url}>
                    {p.base_url}
                  </td>
                  <td className="py-2 font-mono text-xs">{keyLabel(p)}</td>
                  <td className="py-2 text-right whitespace-nowrap">
                    <Button variant="ghost" size="iconSm" aria-label={`Edit provider ${p.name}`} onClick={() => setEditing({ kind: "provider", item: p })}>
                      <Pencil aria-hidden />
                    </Button>
                    <Button variant="ghost" size="iconSm" aria-label={`Delete provider ${p.name}`} onClick={() => setDeleting({ kind: "provider", item: p })}>
                      <Trash2 aria-hidden />
                    </Button>
                  </td>
                </tr>
              ))}
              {catalog && !providers.length && (
                <tr>
                  <td colSpan={4} className="py-2 text-muted-foreground">No providers yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        <Button className="mt-3" variant="outline" onClick={() => setEditing({ kind: "provider", item: null })}>
          <Plus aria-hidden /> Add provider
        </Button>
      </Section>
      <Section title="Models" description="Disabled models stay here but users cannot pick them; running answers finish.">
        <div className="overflow-x-auto">
          <table className="w-full text-sm" aria-label="Models">
            <thead className="text-left text-muted-foreground">
              <tr>
                <th className="py-1 font-medium">Name</th>
                <th className="py-1 font-medium">Provider</th>
                <th className="py-1 font-medium">Upstream</th>
                <th className="py-1 text-right font-medium">Context / max</th>
                <th className="py-1 text-right font-medium">$ / M in · out</th>
                <th className="py-1 text-right font-medium">Concurrency</th>
                <th className="py-1 font-medium">Enabled</th>
                <th className="py-1 font-medium sr-only">Actions</th>
              </tr>
            </thead>
            <tbody>
              {catalog?.models.map((m) => (
                <tr key={m.id} className="border-t border-border tabular-nums" data-enabled={m.enabled}>
                  <td className="py-2 font-medium">{m.name}</td>
                  <td className="py-2">{providerName(m.provider_id)}</td>
                  <td className="py-2 font-mono text-xs">{m.upstream}</td>
                  <td className="py-2 text-right">
                    {formatNumber(m.context_window)} / {formatNumber(m.max_tokens)}
                  </td>
                  <td className="py-2 text-right">
                    {m.input_price_per_mtok} · {m.output_price_per_mtok}
                  </td>
                  <td className="py-2 text-right">{m.concurrency ?? "default"}</td>
                  <td className="py-2">
                    <label className="inline-flex items-center gap-1.5">
                      <input
                        type="checkbox"
                        aria-label={`Enable ${m.name}`}
                        checked={m.enabled}
                        onChange={(e) => toggle(m, e.target.checked)}
                      />
                      <span className={m.enabled ? "" : "text-muted-foreground"}>{m.enabled ? "on" : "off"}</span>
                    </label>
                  </td>
                  <td className="py-2 text-right whitespace-nowrap">
                    <Button variant="ghost" size="iconSm" aria-label={`Edit model ${m.name}`} onClick={() => setEditing({ kind: "model", item: m })}>
                      <Pencil aria-hidden />
                    </Button>
                    <Button variant="ghost" size="iconSm" aria-label={`Delete model ${m.name}`} onClick={() => setDeleting({ kind: "model", item: m })}>
                      <Trash2 aria-hidden />
                    </Button>
                  </td>
                </tr>
              ))}
              {catalog && !catalog.models.length && (
                <tr>
                  <td colSpan={8} className="py-2 text-muted-foreground">No models yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        <Button className="mt-3" variant="outline" disabled={!providers.length} onClick={() => setEditing({ kind: "model", item: null })}>
          <Plus aria-hidden /> Add model
        </Button>
      </Section>
      <ProviderDialog
        open={editing?.kind === "provider"}
        editing={editing?.kind === "provider" ? editing.item : null}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
      <ModelDialog
        open={editing?.kind === "model"}
        editing={editing?.kind === "model" ? editing.item : null}
        providers={providers}
        onClose={() => setEditing(null)}
        onSaved={saved}
      />
      <Dialog open={deleting !== null} onOpenChange={(open) => !open && setDeleting(null)}>
        <DialogContent>
          <DialogTitle>Delete {deleting?.kind} {deleting?.item.name}?</DialogTitle>
          <DialogDescription>
            {deleting?.kind === "model" ? "Users can no longer pick it; running answers finish." : "A provider that models still use cannot be deleted."}
          </DialogDescription>
          <div className="mt-6 flex justify-end gap-2">
            <Button variant="outline" onClick={() => setDeleting(null)}>
              Cancel
            </Button>
            <Button
              variant="destructive"
              onClick={() => {
                const target = deleting;
                setDeleting(null);
                if (target?.kind === "model") void act(() => catalogApi.deleteModel(api, target.item.id));
                else if (target) void act(() => catalogApi.deleteProvider(api, target.item.id));
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
