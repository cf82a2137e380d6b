// Every guardrail the config file defines, by name, and which ones apply to a principal. One object
// per process, built from the FileConfig; `replace()` swaps the definitions (config reload) without
// touching requests already running, which hold their own Guardrail objects.
import type { FileConfig } from '../config/file.ts';
import type { ReloadHook } from '../runtime/config-reload.ts';
import type { GuardrailMode } from './definitions.ts';
import { Guardrail, type CheckContext, type GuardrailDeps, type InputVerdict } from './guardrail.ts';
import type { ChatLike } from './request-text.ts';
import type { Violation } from './stream-window.ts';

/** The attachments a principal carries (shared/db/api-keys.ts). */
export interface GuardrailAttachments {
  tenantGuardrails?: string[] | null;
  keyGuardrails?: string[] | null;
}

const NONE: readonly string[] = Object.freeze([]);

export class GuardrailRegistry {
  private byName = new Map<string, Guardrail>();
  private defaults: readonly string[] = NONE;
  private readonly deps: GuardrailDeps;

  constructor(config: FileConfig | null, deps: GuardrailDeps = {}) {
    this.deps = deps;
    this.replace(config);
  }

  /** Rebuilds every guardrail from `config` (a reloaded file). */
  replace(config: FileConfig | null): void {
    const byName = new Map<string, Guardrail>();
    for (const def of config?.guardrails ?? []) byName.set(def.name, new Guardrail(def, this.deps));
    this.byName = byName;
    this.defaults = config?.default_guardrails?.length ? Object.freeze([...config.default_guardrails]) : NONE;
  }

  /**
   * The SIGHUP hook of a process's registry (ingress, worker, batch runner): a definition that does
   * not build refuses the reload; the switch-over swaps the definitions.
   */
  reloadHook(name: string): ReloadHook {
    return {
      name,
      prepare: (next) => {
        void new GuardrailRegistry(next, this.deps);
        return () => this.replace(next);
      },
    };
  }

  get size(): number {
    return this.byName.size;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): Guardrail | undefined {
    return this.byName.get(name);
  }

  list(): Guardrail[] {
    return [...this.byName.values()];
  }

  get defaultNames(): readonly string[] {
    return this.defaults;
  }

  /**
   * Names that apply to a principal, in order: global defaults, then the tenant's, then the key's;
   * each once. A name no longer defined (the file changed after it was attached) is left out and
   * reported through `onUnknown`. Costs nothing for a principal without attachments and no defaults.
   */
  attachedTo(p: GuardrailAttachments, onUnknown?: (name: string) => void): readonly string[] {
    const tenant = p.tenantGuardrails;
    const key = p.keyGuardrails;
    if (!tenant?.length && !key?.length) return this.defaults;
    const out = new Set(this.defaults);
    for (const name of [...(tenant ?? []), ...(key ?? [])]) {
      if (this.byName.has(name)) out.add(name);
      else onUnknown?.(name);
    }
    return [...out];
  }

  /** The guardrails of `names` that run in `mode`, in order; unknown names are skipped. */
  inMode(names: readonly string[], mode: GuardrailMode): Guardrail[] {
    const out: Guardrail[] = [];
    for (const n of names) {
      const g = this.byName.get(n);
      if (g?.modes.has(mode)) out.push(g);
    }
    return out;
  }
}

/**
 * Runs request checks one after another (a masking guardrail's output is what the next one sees) and
 * stops at the first block. `body` is rewritten in place: pass a copy.
 */
export async function checkRequest(
  guards: Guardrail[],
  mode: GuardrailMode,
  body: ChatLike,
  ctx: CheckContext,
): Promise<{ masked: boolean; violation: Violation | null }> {
  let masked = false;
  for (const g of guards) {
    const verdict: InputVerdict = await g.checkInput(body, ctx, mode);
    if (verdict.action === 'block' || verdict.action === 'unavailable') return { masked, violation: verdict.violation };
    if (verdict.action === 'masked') masked = true;
  }
  return { masked, violation: null };
}
