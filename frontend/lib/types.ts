// REST shapes of the auth, history and gateway services (their openapi.json).
import type { TreeMessage } from "./tree";

export type Theme = "system" | "light" | "dark";

export interface Preferences {
  theme?: Theme | null;
  default_model?: string | null;
  default_system_prompt?: string | null;
  temperature?: number | null;
}

export interface User {
  id: string;
  email: string;
  display_name: string;
  role: string;
  disabled: boolean;
  created_at: string;
  budget_tokens: number | null;
  preferences: Preferences;
}

export interface ConversationSummary {
  id: string;
  title: string;
  model: string | null;
  pinned: boolean;
  project_id?: string | null;
  created_at: string;
  updated_at: string;
}

export interface ConversationPage {
  items: ConversationSummary[];
  next_cursor: string | null;
}

export interface ConversationDetail extends ConversationSummary {
  system_prompt: string | null;
  current_leaf_id: string | null;
  current_path: string[];
  messages: (TreeMessage & { children: string[] })[];
}

export interface ModelInfo {
  name: string;
  workers: number;
  free_slots: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
}

export interface UsageRow {
  user_id: string;
  model: string;
  day: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number;
}
