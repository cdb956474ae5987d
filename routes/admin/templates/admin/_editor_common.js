  // What the console's editors share (included in their nonce'd script, after its `token`): a JSON POST
  // carrying the form's token, and a problem's line button selecting that line of the edited text.
  async function post(url, body) {
    const answer = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(body),
    });
    if (!answer.ok) throw new Error(String(answer.status));
    return answer.json();
  }

  function selectLineOnClick(list, editor) {
    list.addEventListener("click", (event) => {
      const jump = event.target.closest("button.line");
      if (!jump) return;
      const lines = editor.value.split("\n");
      const line = Math.min(Number(jump.dataset.line), lines.length);
      const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
      editor.focus();
      editor.setSelectionRange(start, start + lines[line - 1].length);
    });
  }
