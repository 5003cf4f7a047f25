"use client";
import type { ModelInfo } from "@/lib/types";
import { Select } from "./ui/input";

export function ModelPicker({ models, value, onChange }: { models: ModelInfo[]; value: string; onChange: (model: string) => void }) {
  const known = models.some((m) => m.name === value);
  return (
    <Select aria-label="Model" value={value} onChange={(e) => onChange(e.target.value)} className="w-auto max-w-52 border-transparent font-medium hover:bg-accent">
      {!value && <option value="">No model available</option>}
      {value && !known && <option value={value}>{value} (offline)</option>}
      {models.map((model) => (
        <option key={model.name} value={model.name}>
          {model.name}
        </option>
      ))}
    </Select>
  );
}
