/**
 * `strftime_now(format)` for chat templates (Llama 3.2's writes
 * `strftime_now("%d %b %Y")` into its system header). transformers defines it
 * as Python's `datetime.now().strftime(format)`: local time, and English
 * month and day names, since Python runs in the C locale unless told
 * otherwise. @huggingface/jinja 0.5.x has its own, but it names months in
 * the process's locale (with LANG=fr_FR, "déc." where the template wants
 * "Dec") and passes directives it does not know through as text, so
 * renderChat supplies this one instead.
 */
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const SUPPORTED = "%Y %y %m %d %b %B %a %A %H %M %S %%";

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Format `date` (local time) like C-locale strftime; other directives than SUPPORTED throw. */
export function strftime(date: Date, format: string): string {
  return format.replace(/%(.)/gs, (_, d: string) => {
    switch (d) {
      case "Y":
        return String(date.getFullYear());
      case "y":
        return pad2(date.getFullYear() % 100);
      case "m":
        return pad2(date.getMonth() + 1);
      case "d":
        return pad2(date.getDate());
      case "b":
        return MONTHS[date.getMonth()]!.slice(0, 3);
      case "B":
        return MONTHS[date.getMonth()]!;
      case "a":
        return DAYS[date.getDay()]!.slice(0, 3);
      case "A":
        return DAYS[date.getDay()]!;
      case "H":
        return pad2(date.getHours());
      case "M":
        return pad2(date.getMinutes());
      case "S":
        return pad2(date.getSeconds());
      case "%":
        return "%";
      default:
        throw new Error(`strftime_now: %${d} is not supported (supported: ${SUPPORTED})`);
    }
  });
}
