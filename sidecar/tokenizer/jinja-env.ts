/**
 * Run a compiled @huggingface/jinja template with the globals transformers
 * gives chat templates, and our own `strftime_now` (strftime.ts).
 *
 * `Template.render` declares the library's globals itself and refuses a
 * variable of the same name, so its `strftime_now` (which names months in
 * the process's locale) cannot be replaced through render(). Instead the
 * program runs in an Environment set up here, through the library's exported
 * Environment and Interpreter: the same globals as Template.render declares
 * in @huggingface/jinja 0.5.x (true/false/none and their Python spellings,
 * raise_exception, range, strftime_now; `namespace` comes with every
 * Environment), with `strftime_now` ours. jinja-env.test.ts checks that the
 * two render alike.
 */
import { Environment, Interpreter, type Template } from "@huggingface/jinja";
import { strftime } from "./strftime.ts";

export function renderTemplate(template: Template, vars: Record<string, unknown>, now: Date): string {
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range,
    strftime_now: (format: string) => strftime(now, format),
  };
  const env = new Environment();
  for (const [name, value] of Object.entries({ ...globals, ...vars })) env.set(name, value);
  return new Interpreter(env).run(template.parsed).value as string;
}

/** Python's range(stop) / range(start, stop[, step]). */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}
