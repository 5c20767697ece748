// The live chart page: follows the service's event stream of the month to date and
// redraws the table at each refresh. Requests go to the page's own service only.
(function () {
  "use strict";

  var table = document.getElementById("chart");
  var body = table.querySelector("tbody");
  var status = document.getElementById("status");
  var caption = document.getElementById("caption");
  var period = document.getElementById("period");
  var asOf = document.getElementById("as-of");
  var form = document.getElementById("reader");
  var TOKEN_KEY = "golden-mic-reader-token";
  var retryMs = 1000;

  function say(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function streamUrl() {
    var query = new URLSearchParams();
    query.set("top", table.dataset.top);
    var province = new URLSearchParams(window.location.search).get("province");
    if (province) {
      query.set("province", province);
    }
    return table.dataset.stream + "?" + query.toString();
  }

  // ▲ 2, ▼ 3, NEW, RE or =, with words for screen readers (as on the published pages).
  function movement(row) {
    var places = row.prev_rank === null ? 0 : Math.abs(row.prev_rank - row.rank);
    switch (row.movement) {
      case "UP": return ["▲ " + places, "up", "up " + places];
      case "DOWN": return ["▼ " + places, "down", "down " + places];
      case "NEW": return ["NEW", "new", "new entry"];
      case "RE": return ["RE", "re", "re-entry"];
      case "SAME": return ["=", "same", "no change"];
      default: return [String(row.movement), "same", String(row.movement)];
    }
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function draw(chart, refresh) {
    var rows = document.createDocumentFragment();
    chart.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset.song = row.song_id;
      cell(tr, row.rank, "rank");
      var move = movement(row);
      var td = cell(tr, "", "move " + move[1]);
      var span = document.createElement("span");
      span.setAttribute("aria-label", move[2]);
      span.textContent = move[0];
      td.appendChild(span);
      cell(tr, row.title, "title");
      cell(tr, row.artist, "artist");
      cell(tr, row.score, "number");
      cell(tr, row.venues, "number");
      cell(tr, row.rooms, "number");
      cell(tr, row.prev_rank === null ? "—" : row.prev_rank, "number");
      cell(tr, row.peak_rank, "number");
      cell(tr, row.months_on_chart, "number");
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    table.dataset.refresh = refresh;
    period.textContent = chart.period + (chart.province ? " · " + chart.province : "");
    caption.textContent = chart.period + " to date: " + chart.rows.length + " songs by score";
    var counted = chart.as_of;
    asOf.textContent = "Refresh " + counted.refresh + " at " + counted.refreshed_at +
      "; latest play counted " + (counted.latest_play || "none") + ", " +
      counted.files_counted + " landed files.";
    say("live", "实时 Live · refresh " + counted.refresh);
  }

  function handle(block) {
    var event = "message";
    var id = "";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (line === "" || line.charAt(0) === ":") {
        return;
      }
      var colon = line.indexOf(":");
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") {
        event = value;
      } else if (field === "data") {
        data.push(value);
      } else if (field === "id") {
        id = value;
      }
    });
    if (event === "chart") {
      var chart = JSON.parse(data.join("\n"));
      if (chart.error) {
        say("error", chart.error);
      } else {
        draw(chart, id);
      }
    } else if (event === "closed") {
      say("reconnecting", data.join("\n"));
    }
  }

  function retryLater(seconds) {
    var wait = seconds ? seconds * 1000 : retryMs;
    retryMs = Math.min(retryMs * 2, 30000);
    window.setTimeout(connect, wait);
  }

  function askForToken(message) {
    say("unauthorized", message);
    form.hidden = false;
  }

  async function follow(response) {
    var reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    var buffer = "";
    for (;;) {
      var next = await reader.read();
      if (next.done) {
        return;
      }
      buffer += next.value.replace(/\r\n?/g, "\n");
      var end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handle(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        retryMs = 1000;
      }
    }
  }

  async function connect() {
    var headers = { Accept: "text/event-stream" };
    var token = window.sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    var response;
    try {
      response = await fetch(streamUrl(), { headers: headers, cache: "no-store" });
    } catch (e) {
      say("reconnecting", "连接中断 Connection lost; retrying");
      retryLater();
      return;
    }
    if (!response.ok) {
      var message = response.status + " " + response.statusText;
      try {
        message = (await response.json()).error || message;
      } catch (e) {
        // Not JSON: keep the status line.
      }
      if (response.status === 401) {
        window.sessionStorage.removeItem(TOKEN_KEY);
        askForToken(message);
      } else if (response.status === 503) {
        say("waiting", message);
        retryLater(Number(response.headers.get("Retry-After")) || 5);
      } else {
        say("error", message);
      }
      return;
    }
    form.hidden = true;
    try {
      await follow(response);
    } catch (e) {
      // The connection broke: follow it again.
    }
    say("reconnecting", "连接中断 Connection lost; retrying");
    retryLater();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    window.sessionStorage.setItem(TOKEN_KEY, form.elements.token.value);
    form.reset();
    form.hidden = true;
    say("connecting", "连接中 Connecting…");
    connect();
  });

  connect();
})();
