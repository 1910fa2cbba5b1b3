import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/**
 * A local path to return to after signing in: `next` when it is a path on this board (never
 * another origin, `//host` or `/\host`), else `fallback`.
 */
export function localPath(next: string | undefined, fallback: string): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  try {
    const base = 'http://board.invalid';
    const url = new URL(next, base);
    if (url.origin !== base) return fallback;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return fallback;
  }
}

// Inline styles are allowed by the board's CSP (scripts are not); the page has no script.
const STYLE = `
  body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
    background: #151a21; color: #d8dee6; font: 15px/1.4 system-ui, sans-serif; }
  form { background: #1e252e; padding: 2rem; border-radius: 8px; width: 18rem;
    display: flex; flex-direction: column; gap: .75rem; }
  h1 { margin: 0 0 .5rem; font-size: 1.2rem; }
  label { display: flex; flex-direction: column; gap: .25rem; font-size: .85rem; color: #8b96a5; }
  input { padding: .5rem; border-radius: 4px; border: 1px solid #3a4552; background: #151a21;
    color: inherit; font: inherit; }
  button { padding: .55rem; border: 0; border-radius: 4px; background: #3d7be0; color: white;
    font: inherit; cursor: pointer; }
  .error { margin: 0; padding: .5rem; border-radius: 4px; background: #4a1d22; color: #ffb4b4; }
`;

/** The board's sign-in form; `error` is shown above it (escaped, as `next` is). */
export function loginPage(options: { next: string; error?: string }): HtmlEscapedString {
  const error = options.error ? html`<p class="error" role="alert">${options.error}</p>` : '';
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Sign in · lowburn board</title>
<style>${STYLE}</style>
</head>
<body>
<form method="post" action="/login">
<h1>lowburn board</h1>
${error}
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="${options.next}">
<button type="submit">Sign in</button>
</form>
</body>
</html>` as HtmlEscapedString;
}
