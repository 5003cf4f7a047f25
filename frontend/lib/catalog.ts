// The model catalogue of the auth service (admins): shapes, form parsing and REST calls.
import type { ApiClient } from "./api";

export interface Provider {
  id: string;
  name: string;
  base_url: string;
  has_key: boolean;
  key_last4: string | null;
  created_at: string;
  updated_at: string;
}

export interface CatalogModel {
  id: string;
  name: string;
  provider_id: string;
  upstream: string;
  enabled: boolean;
  context_window: number;
  max_tokens: number;
  input_price_per_mtok: number;
  output_price_per_mtok: number;
  concurrency: number | null;
  defaults: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface Catalog {
  revision: number;
  providers: Provider[];
  models: CatalogModel[];
}

export type ModelBody = Omit<CatalogModel, "id" | "created_at" | "updated_at">;

/** What the key column shows: never the key, only its last four characters. */
export function keyLabel(provider: Pick<Provider, "has_key" | "key_last4">): string {
  if (!provider.has_key) return "no key";
  return provider.key_last4 ? `•••• ${provider.key_last4}` : "••••";
}

export interface ProviderForm {
  name: string;
  baseUrl: string;
  apiKey: string;
  /** Editing only: drop the stored key. */
  removeKey: boolean;
}

/** The body of a provider create (`editing` false) or edit: an empty key field keeps the stored key. */
export function providerBody(form: ProviderForm, editing: boolean): { name: string; base_url: string; api_key?: string } {
  const body: { name: string; base_url: string; api_key?: string } = { name: form.name.trim(), base_url: form.baseUrl.trim() };
  if (editing && form.removeKey) body.api_key = "";
  else if (form.apiKey) body.api_key = form.apiKey;
  return body;
}

export interface ModelForm {
  name: string;
  providerId: string;
  upstream: string;
  enabled: boolean;
  contextWindow: string;
  maxTokens: string;
  inputPrice: string;
  outputPrice: string;
  concurrency: string;
  defaults: string;
}

export function modelForm(model?: CatalogModel, providerId = ""): ModelForm {
  return {
    name: model?.name ?? "",
    providerId: model?.provider_id ?? providerId,
    upstream: model?.upstream ?? "",
    enabled: model?.enabled ?? true,
    contextWindow: String(model?.context_window ?? 8192),
    maxTokens: String(model?.max_tokens ?? 1024),
    inputPrice: String(model?.input_price_per_mtok ?? 0),
    outputPrice: String(model?.output_price_per_mtok ?? 0),
    concurrency: model?.concurrency == null ? "" : String(model.concurrency),
    defaults: model && Object.keys(model.defaults).length ? JSON.stringify(model.defaults, null, 2) : "",
  };
}

function number(label: string, text: string, integer: boolean): number {
  const value = Number(text.trim());
  if (!text.trim() || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new Error(`${label} must be ${integer ? "a whole number" : "a number"}.`);
  }
  return value;
}

/** The model's request body from the form, or an Error naming the field that is wrong. */
export function modelBody(form: ModelForm): ModelBody {
  let defaults: unknown = {};
  if (form.defaults.trim()) {
    try {
      defaults = JSON.parse(form.defaults);
    } catch {
      throw new Error("Default parameters must be a JSON object, e.g. {\"top_p\": 0.9}.");
    }
  }
  if (typeof defaults !== "object" || defaults === null || Array.isArray(defaults)) {
    throw new Error("Default parameters must be a JSON object, e.g. {\"top_p\": 0.9}.");
  }
  if (!form.providerId) throw new Error("Pick a provider.");
  return {
    name: form.name.trim(),
    provider_id: form.providerId,
    upstream: form.upstream.trim(),
    enabled: form.enabled,
    context_window: number("Context window", form.contextWindow, true),
    max_tokens: number("Max tokens", form.maxTokens, true),
    input_price_per_mtok: number("Input price", form.inputPrice, false),
    output_price_per_mtok: number("Output price", form.outputPrice, false),
    concurrency: form.concurrency.trim() ? number("Concurrency", form.concurrency, true) : null,
    defaults: defaults as Record<string, unknown>,
  };
}

const BASE = "/api/auth/catalog";

export const catalogApi = {
  get: (api: ApiClient) => api.request<Catalog>("GET", BASE),
  createProvider: (api: ApiClient, body: ReturnType<typeof providerBody>) => api.request<Provider>("POST", `${BASE}/providers`, body),
  updateProvider: (api: ApiClient, id: string, body: ReturnType<typeof providerBody>) =>
    api.request<Provider>("PATCH", `${BASE}/providers/${encodeURIComponent(id)}`, body),
  deleteProvider: (api: ApiClient, id: string) => api.request<void>("DELETE", `${BASE}/providers/${encodeURIComponent(id)}`),
  createModel: (api: ApiClient, body: ModelBody) => api.request<CatalogModel>("POST", `${BASE}/models`, body),
  updateModel: (api: ApiClient, id: string, body: Partial<ModelBody>) =>
    api.request<CatalogModel>("PATCH", `${BASE}/models/${encodeURIComponent(id)}`, body),
  deleteModel: (api: ApiClient, id: string) => api.request<void>("DELETE", `${BASE}/models/${encodeURIComponent(id)}`),
};
