// Parse iCalendar feeds with Mozilla ical.js (the parser in Thunderbird).
// Reads a JSON array of feed texts on stdin; writes one result per feed: its events, or the error.
import ICAL from "ical.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const feeds = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = feeds.map((text) => {
  try {
    const cal = new ICAL.Component(ICAL.parse(text));
    for (const tz of cal.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(tz);
    }
    const events = cal.getAllSubcomponents("vevent").map((ve) => {
      const ev = new ICAL.Event(ve);
      return {
        uid: ev.uid,
        summary: ev.summary,
        description: ev.description,
        start: ev.startDate.toString(),
        end: ev.endDate.toString(),
        allDay: ev.startDate.isDate,
        sequence: ev.sequence,
        status: ve.getFirstPropertyValue("status"),
      };
    });
    return { ok: true, name: cal.getFirstPropertyValue("name"), events };
  } catch (err) {
    return { ok: false, error: String(err) };
  }
});
process.stdout.write(JSON.stringify(results));
