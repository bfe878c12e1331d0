// New content: suggest the slug from the title until the editor types one herself.
(function () {
  "use strict";
  var title = document.querySelector("form input[name=title]");
  var slug = document.querySelector("form input[name=slug]");
  if (!title || !slug) { return; }
  var touched = slug.value !== "";
  slug.addEventListener("input", function () { touched = slug.value !== ""; });
  title.addEventListener("input", function () {
    if (touched) { return; }
    slug.value = title.value.normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  });
})();
