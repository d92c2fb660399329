/* iodiag thread timeline: drag across the lanes to zoom into that time, "Zoom out" and
   "Reset" buttons, and a details line for the rectangle under the pointer. Inlined into the
   HTML report; no library, no network. The SVG is complete without it (hover titles). */
(function () {
  "use strict";
  function niceStep(span, count) {
    var raw = span / Math.max(count, 1), power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= raw) return steps[i] * power;
    return 10 * power;
  }
  function label(value) {
    var text = value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 3);
    return text.replace(/0+$/, "").replace(/\.$/, "") || "0";
  }
  document.querySelectorAll("figure.timeline").forEach(function (figure) {
    var svg = figure.querySelector("svg.timeline");
    var info = figure.querySelector(".tl-info");
    if (!svg) return;
    var inner = svg.querySelector(".tl-inner"), axis = svg.querySelector(".tl-axis");
    var ns = "http://www.w3.org/2000/svg";
    var left = parseFloat(axis.getAttribute("data-left"));
    var right = parseFloat(axis.getAttribute("data-right"));
    var axisY = parseFloat(axis.getAttribute("data-y"));
    var span = parseFloat(axis.getAttribute("data-span"));
    var view = [left, right];           /* the unzoomed x range now shown */
    var history = [];
    function apply() {
      var k = (right - left) / (view[1] - view[0]);
      inner.setAttribute("transform", "translate(" + (left - view[0] * k) + ",0) scale(" + k + ",1)");
      while (axis.firstChild) axis.removeChild(axis.firstChild);
      var t0 = (view[0] - left) / (right - left) * span, t1 = (view[1] - left) / (right - left) * span;
      var step = niceStep(t1 - t0, 8);
      for (var t = Math.ceil(t0 / step) * step; t <= t1 + step * 1e-6; t += step) {
        var x = left + (t - t0) / (t1 - t0) * (right - left);
        var tick = document.createElementNS(ns, "line");
        tick.setAttribute("class", "ax");
        tick.setAttribute("x1", x); tick.setAttribute("x2", x);
        tick.setAttribute("y1", axisY); tick.setAttribute("y2", axisY + 4);
        tick.setAttribute("stroke", "#8c959f");
        axis.appendChild(tick);
        var text = document.createElementNS(ns, "text");
        text.setAttribute("class", "mu");
        text.setAttribute("x", x); text.setAttribute("y", axisY + 15);
        text.setAttribute("font-size", "10"); text.setAttribute("text-anchor", "middle");
        text.textContent = label(t);
        axis.appendChild(text);
      }
    }
    function toX(event) {
      var point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      var matrix = svg.getScreenCTM();
      if (!matrix) return left;
      var x = point.matrixTransform(matrix.inverse()).x;
      return Math.min(Math.max(x, left), right);
    }
    function toUnzoomed(x) {
      return view[0] + (x - left) / (right - left) * (view[1] - view[0]);
    }
    var band = document.createElementNS(ns, "rect");
    band.setAttribute("class", "tl-band");
    band.setAttribute("y", 0); band.setAttribute("height", axisY);
    band.setAttribute("fill", "#1f6feb"); band.setAttribute("fill-opacity", "0.15");
    band.style.display = "none";
    svg.appendChild(band);
    var dragFrom = null;
    svg.addEventListener("mousedown", function (event) {
      var x = toX(event);
      if (event.button !== 0 || x <= left) return;
      dragFrom = x;
      event.preventDefault();
    });
    window.addEventListener("mousemove", function (event) {
      if (dragFrom === null) return;
      var x = toX(event);
      band.setAttribute("x", Math.min(x, dragFrom));
      band.setAttribute("width", Math.abs(x - dragFrom));
      band.style.display = "";
    });
    window.addEventListener("mouseup", function (event) {
      if (dragFrom === null) return;
      var a = toUnzoomed(Math.min(dragFrom, toX(event))), b = toUnzoomed(Math.max(dragFrom, toX(event)));
      dragFrom = null;
      band.style.display = "none";
      if (b - a < (right - left) / 2000) return;    /* a click, not a drag: follow links */
      history.push(view);
      view = [a, b];
      apply();
    });
    svg.addEventListener("mouseover", function (event) {
      var title = event.target.querySelector && event.target.querySelector("title");
      if (info && title) info.textContent = title.textContent;
    });
    figure.querySelectorAll("button[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.getAttribute("data-zoom") === "out") {
          view = history.length ? history.pop() : [left, right];
        } else {
          history = [];
          view = [left, right];
        }
        apply();
      });
    });
  });
})();
