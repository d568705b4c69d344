// Renders the server's own OpenAPI document; no validator badge (it would call out).
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/v1/chats/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
