// WebAuthn for the gateway's forms: fetch the options, ask the browser,
// put the answer in the form's hidden `credential` field and submit.
(function () {
  "use strict";
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), buf = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    return buf.buffer;
  }
  function toB64(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  async function options(form) {
    var body = new URLSearchParams({ tx: form.tx.value, csrf: form.csrf.value });
    var r = await fetch(form.dataset.start, { method: "POST", body: body, credentials: "same-origin" });
    if (!r.ok) throw new Error("the gateway refused to start (" + r.status + ")");
    return r.json();
  }
  function report(form, err) {
    var out = form.querySelector(".webauthn-error");
    if (out) out.textContent = "Your browser or key did not complete the step: " + err.message;
  }
  var reg = document.getElementById("webauthn-register");
  if (reg) reg.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      var o = (await options(reg)).publicKey;
      o.challenge = toBuf(o.challenge);
      o.user.id = toBuf(o.user.id);
      (o.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
      var c = await navigator.credentials.create({ publicKey: o });
      reg.credential.value = JSON.stringify({
        id: c.id, rawId: toB64(c.rawId), type: c.type,
        response: { attestationObject: toB64(c.response.attestationObject), clientDataJSON: toB64(c.response.clientDataJSON) },
        extensions: c.getClientExtensionResults()
      });
      reg.submit();
    } catch (err) { report(reg, err); }
  });
  var login = document.getElementById("webauthn-login");
  if (login) login.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      var o = (await options(login)).publicKey;
      o.challenge = toBuf(o.challenge);
      (o.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
      var a = await navigator.credentials.get({ publicKey: o });
      login.credential.value = JSON.stringify({
        id: a.id, rawId: toB64(a.rawId), type: a.type,
        response: {
          authenticatorData: toB64(a.response.authenticatorData), clientDataJSON: toB64(a.response.clientDataJSON),
          signature: toB64(a.response.signature), userHandle: a.response.userHandle ? toB64(a.response.userHandle) : null
        },
        extensions: a.getClientExtensionResults()
      });
      login.submit();
    } catch (err) { report(login, err); }
  });
})();
