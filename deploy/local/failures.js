// Prints each failed test of the given TRX files with the start of its message and stack trace, for the end of a
// test run's output (deploy/local/test).
const fs = require("fs");
const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
  .replace(/&apos;/g, "'").replace(/&#xD;/g, "").replace(/&#xA;/g, "\n").replace(/&amp;/g, "&");
const head = (s, lines) => {
  const all = s.split("\n");
  return all.slice(0, lines).join("\n") + (all.length > lines ? `\n    ... (${all.length - lines} more lines)` : "");
};
let failures = 0;
for (const file of process.argv.slice(2)) {
  const xml = fs.readFileSync(file, "utf8");
  // A passed test without output is one self-closing element: matched as such, it cannot swallow the next result.
  for (const m of xml.matchAll(/<UnitTestResult\b([^>]*?)(?:\/>|>([\s\S]*?)<\/UnitTestResult>)/g)) {
    if (!/\boutcome="Failed"/.test(m[1])) continue;
    const body = m[2] || "";
    const name = unescape((m[1].match(/\btestName="([^"]*)"/) || [, "?"])[1]);
    const message = unescape((body.match(/<Message>([\s\S]*?)<\/Message>/) || [, ""])[1]);
    const stack = unescape((body.match(/<StackTrace>([\s\S]*?)<\/StackTrace>/) || [, ""])[1]);
    if (failures++ === 0) console.log("\nFailed tests:");
    console.log(`- ${name}\n  ${head(message.trim(), 30).replace(/\n/g, "\n  ")}\n  ${head(stack.trim(), 12).replace(/\n/g, "\n  ")}`);
  }
}
