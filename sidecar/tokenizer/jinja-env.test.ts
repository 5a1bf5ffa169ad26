import { execFileSync } from "node:child_process";
import { Template } from "@huggingface/jinja";
import { describe, expect, it } from "vitest";
import { renderTemplate } from "./jinja-env.ts";
import { strftime } from "./strftime.ts";

describe("renderTemplate", () => {
  const now = new Date(2024, 6, 26, 9, 5, 7);

  it("has the globals Template.render declares, rendering alike", () => {
    const source =
      "{{ true }} {{ false }} {{ none }} {{ True }} {{ False }} {{ None }} {{ strftime_now is defined }}|" +
      "{% for i in range(3) %}{{ i }}{% endfor %} {% for i in range(1, 7, 2) %}{{ i }}{% endfor %} {% for i in range(5, 0, -2) %}{{ i }}{% endfor %}|" +
      "{% set ns = namespace(n=1) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}|{{ x }}";
    const t = new Template(source);
    expect(renderTemplate(t, { x: "hi" }, now)).toBe(t.render({ x: "hi" }));
    expect(renderTemplate(t, { x: "hi" }, now)).toBe("true false  true false  true|012 135 531|2|hi");
  });

  it("raise_exception throws the template's message", () => {
    const t = new Template("{{ raise_exception('no ' + what) }}");
    expect(() => renderTemplate(t, { what: "system role" }, now)).toThrow(/^no system role$/);
    expect(() => t.render({ what: "system role" })).toThrow(/^no system role$/);
  });

  it("strftime_now reads the given time", () => {
    expect(renderTemplate(new Template('{{ strftime_now("%d %b %Y") }}'), {}, now)).toBe("26 Jul 2024");
  });

  it("strftime_now stays English whatever the process locale", () => {
    const script =
      'import { Template } from "@huggingface/jinja";' +
      'import { renderTemplate } from "./sidecar/tokenizer/jinja-env.ts";' +
      'const t = new Template(`{{ strftime_now("%b") }}`);' +
      "const d = new Date(2024, 11, 3);" +
      "console.log(renderTemplate(t, {}, d));";
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, LC_ALL: "fr_FR.UTF-8", LANG: "fr_FR.UTF-8" },
      encoding: "utf8",
    });
    expect(out.trim()).toBe("Dec");
  });
});

describe("strftime (C locale)", () => {
  const d = new Date(2009, 0, 4, 13, 2, 9); // a Sunday

  it("formats the directives templates use", () => {
    expect(strftime(d, "%d %b %Y")).toBe("04 Jan 2009");
    expect(strftime(d, "%Y-%m-%d %H:%M:%S")).toBe("2009-01-04 13:02:09");
    expect(strftime(d, "%A %a %B %y 100%%")).toBe("Sunday Sun January 09 100%");
  });

  it("rejects directives it does not know, instead of printing them", () => {
    expect(() => strftime(d, "%j")).toThrow(/strftime_now: %j is not supported/);
  });
});
