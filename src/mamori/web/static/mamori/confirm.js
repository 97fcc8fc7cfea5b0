// A form with data-confirm asks before it is sent (the Content-Security-Policy allows no inline onsubmit).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
}, true);
