// The scan page: the rear camera through @zxing/browser (served by the app); a 监督码 read is put
// in the form, which is submitted as if typed. An emergency entry waits for its reason first.
(function () {
  "use strict";
  var box = document.querySelector("[data-scanner]");
  var form = document.getElementById("check-in");
  if (!box || !form) { return; }
  var status = box.querySelector("[data-scan-status]");
  var video = document.getElementById("camera");
  var late = document.getElementById("late");
  var lateFields = document.getElementById("late-fields");

  function showLate() { lateFields.hidden = !late.checked; }
  late.addEventListener("change", showLate);
  showLate();

  function say(text) { status.textContent = text; }

  if (!window.ZXingBrowser || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    video.hidden = true;
    say("此浏览器无法打开摄像头,请粘贴监督码或从今日入企中选择企业。");
    return;
  }
  // TRY_HARDER (hint 3): a dense signed code is otherwise missed on some frames for good.
  var reader = new window.ZXingBrowser.BrowserQRCodeReader(new Map([[3, true]]));
  var done = false;
  reader.decodeFromConstraints(
    { audio: false, video: { facingMode: { ideal: "environment" } } },
    video,
    function (result, error, controls) {
      if (!result || done) { return; }
      done = true;
      controls.stop();
      form.elements.code.value = result.getText();
      if (late.checked && (!form.elements.entered_at.value || !form.elements.late_reason.value.trim())) {
        say("已识别监督码。请填写实际入企时间和事由后提交。");
        form.elements.late_reason.focus();
        return;
      }
      say("已识别监督码,正在登记……");
      form.requestSubmit();
    }
  ).then(function () {
    if (!done) { say("对准企业门口的监督码即可自动登记。"); }
  }).catch(function (err) {
    video.hidden = true;
    say("无法打开摄像头(" + (err && err.name ? err.name : "未知错误") + "),请粘贴监督码或从今日入企中选择企业。");
  });
}());
