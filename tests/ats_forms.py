"""The HTML of the ATS stand-ins' pages (tests/ats_stand_ins.py), after the real forms'
markup as tests/browser/SOURCES.md records it."""

from __future__ import annotations

# Reads every named control of a container (shadow roots too) and its files, then POSTs them
# as JSON, as the script-submitted forms do.
_SEND_JSON = """
<script>
async function readFile(file) {
  const data = new Uint8Array(await file.arrayBuffer());
  let text = ""; for (const b of data) text += String.fromCharCode(b);
  return {filename: file.name, type: file.type, base64: btoa(text)};
}
function controls(root, found) {
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) controls(el.shadowRoot, found);
    if (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) found.push(el);
  }
  return found;
}
async function sendJson(url, root, extra) {
  const fields = [], files = {};
  for (const el of controls(root, [])) {
    const key = el.name || el.id;
    if (!key) continue;
    if (el.type === "file") { if (el.files.length) files[key] = await readFile(el.files[0]); continue; }
    if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
    if (el.value === "") continue;
    fields.push([key, el.value]);
  }
  for (const [k, v] of extra || []) fields.push([k, v]);
  for (const [k, f] of Object.entries(window.attached || {})) files[k] = await readFile(f);
  const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({fields, files})});
  return r.ok;
}
</script>
"""

_EEO_CLASSIC = """
<div id="eeoc_fields">
 <div class="field"><label for="job_application_gender">Gender</label>
  <select id="job_application_gender" name="job_application[gender]">
   <option value="">Please select</option><option value="1">Male</option>
   <option value="2">Female</option><option value="3">Decline To Self Identify</option></select></div>
 <div class="field"><label for="job_application_hispanic_ethnicity">Are you Hispanic/Latino?</label>
  <select id="job_application_hispanic_ethnicity" name="job_application[hispanic_ethnicity]">
   <option value="">Please select</option><option value="Yes">Yes</option><option value="No">No</option>
   <option value="Decline To Self Identify">Decline To Self Identify</option></select></div>
 <div class="field"><label for="job_application_veteran_status">Veteran Status</label>
  <select id="job_application_veteran_status" name="job_application[veteran_status]">
   <option value="">Please select</option><option value="1">I am a veteran</option>
   <option value="2">I am not a veteran</option><option value="3">I don't wish to answer</option></select></div>
 <div class="field"><label for="job_application_disability_status">Disability Status</label>
  <select id="job_application_disability_status" name="job_application[disability_status]">
   <option value="">Please select</option><option value="1">Yes, I have a disability, or have a history/record of having a disability</option>
   <option value="2">No, I don't have a disability, or a history/record of having a disability</option>
   <option value="3">I don't wish to answer</option></select></div>
</div>
"""


def _greenhouse_classic(
    action: str, *, captcha: bool = False, letter_file: bool = False, saves_draft: bool = False
) -> str:
    widget = (
        '<div class="g-recaptcha" data-sitekey="6Lc-stand-in" style="width:304px;height:78px;'
        "border:1px solid #ccc\">I'm not a robot</div>"
        '<textarea id="g-recaptcha-response" name="g-recaptcha-response" required '
        'style="display:none"></textarea>'
        if captcha
        else ""
    )
    return f"""<!doctype html><html><head><title>Job Application for Backend Engineer at Acme</title></head>
<body><div id="app_body"><h1 class="app-title">Backend Engineer</h1>
<a id="apply_button" href="#application">Apply Here</a>
<form id="application_form" action="{action}" method="post" enctype="multipart/form-data">
 <input type="hidden" name="utf8" value="&#x2713;">
 <div id="main_fields">
  <div class="field"><label for="first_name">First Name <span class="asterisk">*</span></label>
   <input type="text" id="first_name" name="job_application[first_name]" aria-required="true"></div>
  <div class="field"><label for="last_name">Last Name <span class="asterisk">*</span></label>
   <input type="text" id="last_name" name="job_application[last_name]" aria-required="true"></div>
  <div class="field"><label for="email">Email <span class="asterisk">*</span></label>
   <input type="text" id="email" name="job_application[email]" aria-required="true"></div>
  <div class="field"><label for="phone">Phone <span class="asterisk">*</span></label>
   <input type="text" id="phone" name="job_application[phone]" aria-required="true"></div>
  <div class="field"><label for="auto_complete_input">Location (City)</label>
   <input type="text" id="auto_complete_input" name="job_application[location]">
   <ul id="location_autocomplete-items-popup"></ul></div>
  <fieldset id="resume_fieldset"><label id="resume_label">Resume/CV <span class="asterisk">*</span></label>
   <div class="link-container"><button type="button" data-source="attach">Attach</button>
    <button type="button" data-source="paste">enter manually</button></div>
   <input type="file" id="resume" name="job_application[resume]" aria-labelledby="resume_label"
    accept=".pdf,.doc,.docx,.txt,.rtf" required style="display:none">
   <span id="resume_filename"></span></fieldset>
  {_CLASSIC_LETTER_FILE if letter_file else _CLASSIC_LETTER_TEXT}
 </div>
 <div id="custom_fields">
  <div class="field"><label for="job_application_answers_attributes_0_text_value">LinkedIn Profile</label>
   <input type="hidden" id="job_application_answers_attributes_0_question_id" name="job_application[answers_attributes][0][question_id]" value="2101">
   <input type="text" id="job_application_answers_attributes_0_text_value" name="job_application[answers_attributes][0][text_value]"></div>
  <div class="field"><label for="job_application_answers_attributes_1_boolean_value">Are you legally authorized to work in the United Kingdom? <span class="asterisk">*</span></label>
   <input type="hidden" name="job_application[answers_attributes][1][question_id]" value="2102">
   <select id="job_application_answers_attributes_1_boolean_value" name="job_application[answers_attributes][1][boolean_value]" aria-required="true">
    <option value="">--</option><option value="1">Yes</option><option value="0">No</option></select></div>
  <div class="field"><label for="job_application_answers_attributes_2_boolean_value">Will you now or in the future require sponsorship for employment visa status? <span class="asterisk">*</span></label>
   <input type="hidden" name="job_application[answers_attributes][2][question_id]" value="2103">
   <select id="job_application_answers_attributes_2_boolean_value" name="job_application[answers_attributes][2][boolean_value]" aria-required="true">
    <option value="">--</option><option value="1">Yes</option><option value="0">No</option></select></div>
  <div class="field"><label for="job_application_answers_attributes_3_text_value">What are your salary expectations? <span class="asterisk">*</span></label>
   <input type="hidden" name="job_application[answers_attributes][3][question_id]" value="2104">
   <input type="text" id="job_application_answers_attributes_3_text_value" name="job_application[answers_attributes][3][text_value]" aria-required="true"></div>
 </div>
 {_EEO_CLASSIC}
 {widget}
 <input type="submit" id="submit_app" value="Submit Application">
</form></div>
<script>
document.querySelector('[data-source=attach]').onclick = () => document.getElementById('resume').click();
document.getElementById('resume').onchange = (e) => {{
  document.getElementById('resume_filename').textContent = e.target.files[0].name; }};
document.getElementById('application_form').addEventListener('submit', (e) => {{
  for (const el of document.querySelectorAll('[aria-required=true]'))
    if (!el.value) {{ e.preventDefault(); el.classList.add('error'); }}
  const cap = document.getElementById('g-recaptcha-response');
  if (cap && !cap.value) e.preventDefault();
}});
{_CLASSIC_DRAFT if saves_draft else ""}
</script></body></html>"""


_CLASSIC_LETTER_TEXT = """<fieldset id="cover_letter_fieldset"><label for="cover_letter_text">Cover Letter</label>
   <textarea id="cover_letter_text" name="job_application[cover_letter_text]"></textarea></fieldset>"""
# The board's other cover-letter shape: an upload, like the resume's (Attach / enter manually).
_CLASSIC_LETTER_FILE = """<fieldset id="cover_letter_fieldset"><label id="cover_letter_label">Cover Letter</label>
   <div class="link-container"><button type="button" data-source="attach-letter">Attach</button></div>
   <input type="file" id="cover_letter" name="job_application[cover_letter]" aria-labelledby="cover_letter_label"
    accept=".pdf,.doc,.docx,.txt,.rtf" style="display:none">
   <span id="cover_letter_filename"></span></fieldset>"""
# A board that saves a draft when the applicant starts typing: the form's fields wait, disabled,
# until the draft is saved.
_CLASSIC_DRAFT = """let drafting = null;
document.getElementById('application_form').addEventListener('input', () => {
  if (drafting) return;
  const fields = [...document.querySelectorAll('#application_form input, #application_form select, #application_form textarea')];
  for (const el of fields) el.disabled = true;
  drafting = fetch(location.pathname + '/draft', {method: 'POST'})
    .finally(() => { for (const el of fields) el.disabled = false; });
});"""


_REACT_SELECT = """
<script>
// A react-select: `div.select__control` > `input.select__input[role=combobox]`; the menu
// (`div.select__menu` > [role=listbox] > [role=option]) renders in the form; a hidden
// `input.select__required` stands in while it is empty; options may load late.
function reactSelect(id, options, {asyncMs = 0, shown = (o) => o} = {}) {
  const box = document.getElementById(id + '-select');
  const required = document.getElementById(id + '-label').textContent.includes('*') ? 'required' : '';
  box.innerHTML = `<div class="select__control"><div class="select__value-container">
     <div class="select__placeholder">Select...</div>
     <input class="select__input" id="${id}" role="combobox" aria-autocomplete="list"
      aria-haspopup="true" aria-expanded="false" aria-labelledby="${id}-label" autocomplete="off"></div>
     <button type="button" aria-label="Toggle flyout">v</button></div>
     <input class="select__required" tabindex="-1" aria-hidden="true" ${required} value="">`;
  const input = box.querySelector('input.select__input');
  const proxy = box.querySelector('.select__required');
  let menu = null, timer = null;
  const close = () => { if (menu) menu.remove(); menu = null; input.setAttribute('aria-expanded', 'false'); };
  const render = (items) => {
    close();
    menu = document.createElement('div'); menu.className = 'select__menu';
    const list = document.createElement('div'); list.setAttribute('role', 'listbox'); menu.appendChild(list);
    for (const o of items) {
      const opt = document.createElement('div'); opt.setAttribute('role', 'option');
      opt.className = 'select__option'; opt.textContent = o;
      opt.addEventListener('mousedown', (e) => { e.preventDefault(); choose(o); });
      list.appendChild(opt);
    }
    if (!items.length) list.innerHTML = '<div class="select__menu-notice">No options</div>';
    box.appendChild(menu); input.setAttribute('aria-expanded', 'true');
  };
  const open = () => {
    const q = input.value.toLowerCase();
    const items = options.filter((o) => o.toLowerCase().includes(q));
    clearTimeout(timer);
    if (asyncMs) timer = setTimeout(() => render(items), asyncMs); else render(items);
  };
  const choose = (o) => {
    box.querySelector('.select__placeholder, .select__single-value').outerHTML =
      `<div class="select__single-value">${shown(o)}</div>`;
    box.dataset.value = o; proxy.value = o; input.value = ''; close();
  };
  input.addEventListener('focus', open); input.addEventListener('input', open);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && menu) { e.preventDefault(); const first = menu.querySelector('[role=option]');
      if (first) choose(first.textContent); }
  });
}
</script>
"""


def _gh_new_field(id_: str, label: str, control: str, *, required: bool) -> str:
    star = '<span aria-hidden="true">*</span>' if required else ""
    return (
        f'<div class="field-wrapper"><label id="{id_}-label" for="{id_}" class="label">{label}'
        f"{star}</label>{control}</div>"
    )


def _gh_text(id_: str, label: str, *, required: bool, auto: str = "", kind: str = "text") -> str:
    attrs = ' aria-required="true"' if required else ""
    attrs += f' autocomplete="{auto}"' if auto else ""
    return _gh_new_field(
        id_, label, f'<input id="{id_}" type="{kind}" class="input"{attrs}>', required=required
    )


def _gh_select(id_: str, label: str, *, required: bool) -> str:
    return _gh_new_field(
        id_, label, f'<div class="select" id="{id_}-select"></div>', required=required
    )


GREENHOUSE_NEW = f"""<!doctype html><html><head><title>Job Application for Platform Engineer at Globex</title></head>
<body><div class="job__description"><h1>Platform Engineer</h1></div>
<button type="button" class="btn">Autofill with MyGreenhouse</button>
<form id="application-form" class="application--form">
 {_gh_text("first_name", "First Name", required=True, auto="given-name")}
 {_gh_text("last_name", "Last Name", required=True, auto="family-name")}
 {_gh_text("preferred_first_name", "Preferred First Name", required=False)}
 {_gh_text("email", "Email", required=True, auto="email", kind="email")}
 {_gh_select("country", "Country", required=False)}
 {_gh_text("phone", "Phone", required=True, kind="tel")}
 {_gh_select("candidate-location", "Location (City)", required=True)}
 <div class="file-upload" role="group" aria-labelledby="upload-label-resume">
  <div id="upload-label-resume" class="label">Resume/CV<span aria-hidden="true">*</span></div>
  <div class="file-upload__wrapper" id="resume-wrapper">
   <button type="button" class="btn">Attach</button>
   <label for="resume" class="visually-hidden">Attach</label>
   <input id="resume" type="file" class="visually-hidden" required accept=".pdf,.doc,.docx,.txt,.rtf"
    style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)">
   <button type="button" data-testid="resume-dropbox" class="btn">Dropbox</button>
   <button type="button" data-testid="resume-text" class="btn">Enter manually</button></div>
  <p class="file-upload__helper">Accepted file types: pdf, doc, docx, txt, rtf</p></div>
 <div class="file-upload" role="group" aria-labelledby="upload-label-cover_letter">
  <div id="upload-label-cover_letter" class="label">Cover Letter</div>
  <div class="file-upload__wrapper" id="cover_letter-wrapper">
   <button type="button" class="btn">Attach</button>
   <input id="cover_letter" type="file" accept=".pdf,.doc,.docx,.txt,.rtf"
    style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)"></div></div>
 {_gh_text("question_31001", "LinkedIn Profile", required=False)}
 {
    _gh_select(
        "question_31002", "Are you legally authorized to work in the United Kingdom?", required=True
    )
}
 {
    _gh_select(
        "question_31003", "Will you now or in the future require visa sponsorship?", required=True
    )
}
 {
    _gh_new_field(
        "question_31004",
        "Why do you want to work at Globex?",
        '<textarea id="question_31004" class="input" aria-required="true"></textarea>',
        required=True,
    )
}
 <div class="eeoc__container"><h3>Voluntary Self-Identification</h3>
 {_gh_select("gender", "Gender", required=False)}
 {_gh_select("hispanic_ethnicity", "Are you Hispanic/Latino?", required=False)}
 {_gh_select("veteran_status", "Veteran Status", required=False)}
 {_gh_select("disability_status", "Disability Status", required=False)}
 </div>
 <button type="submit" class="btn btn--pill">Submit application</button>
</form>
{_REACT_SELECT}
{_SEND_JSON}
<script>
const YESNO = ['Yes', 'No'];
reactSelect('country', ['United Kingdom +44', 'United States +1', 'Germany +49'], {{shown: (o) => o.split(' ').pop()}});
reactSelect('candidate-location', ['London, England, United Kingdom', 'London, Ontario, Canada', 'Leeds, England, United Kingdom'], {{asyncMs: 300}});
reactSelect('question_31002', YESNO); reactSelect('question_31003', YESNO);
reactSelect('gender', ['Male', 'Female', 'Decline To Self Identify']);
reactSelect('hispanic_ethnicity', ['Yes', 'No', 'Decline To Self Identify']);
reactSelect('veteran_status', ['I am a veteran', 'I am not a veteran', "I don't wish to answer"]);
reactSelect('disability_status', ['Yes, I have a disability, or have a history/record of having a disability',
  "No, I don't have a disability, or a history/record of having a disability", "I don't wish to answer"]);
window.attached = {{}};
for (const id of ['resume', 'cover_letter']) {{
  const input = document.getElementById(id);
  input.addEventListener('change', () => {{
    const file = input.files[0]; window.attached[id] = file;
    // Like the real widget: the input and its buttons give way to the file's name.
    document.getElementById(id + '-wrapper').innerHTML =
      `<span class="file-upload__filename">${{file.name}}</span><button type="button">Remove file</button>`;
  }});
}}
document.getElementById('application-form').addEventListener('submit', async (e) => {{
  e.preventDefault();
  const form = e.target, missing = [];
  for (const el of form.querySelectorAll('[aria-required=true]')) if (!el.value) missing.push(el.id);
  for (const el of form.querySelectorAll('.select__required')) {{
    const id = el.parentElement.id.replace(/-select$/, '');
    if (!el.value && document.getElementById(id + '-label').textContent.includes('*')) missing.push(id);
  }}
  if (!window.attached.resume) missing.push('resume');
  if (missing.length) {{ document.body.dataset.errors = missing.join(','); return; }}
  const extra = [...form.querySelectorAll('.select[data-value]')].map((s) => [s.id.replace(/-select$/, ''), s.dataset.value]);
  if (await sendJson(location.pathname + '/applications', form, extra)) location.href = location.pathname + '/confirmation';
}});
</script></body></html>"""


def _lever_card(uuid: str, text: str, control: str, *, required: bool) -> str:
    star = '<span class="required">✱</span>' if required else ""
    field_class = "application-field required-field" if required else "application-field"
    return f"""<li class="application-question custom-question">
 <div class="application-label"><div class="text">{text}{star}</div></div>
 <div class="{field_class}">{control}</div>
 <input type="hidden" name="cards[{uuid}][baseTemplate]" value='{{"fields":[{{"required":{str(required).lower()}}}]}}'></li>"""


def _lever(action: str, *, rejects_upload: bool = False) -> str:
    card = "e3b0c442-98fc-4c14-9afb-f4c8996fb924"
    card2 = "a8f5f167-f44f-4964-a6c3-9b2b8d2c1e07"
    upload_check = (
        """if (input.files[0]) { document.querySelector('.resume-upload-oversize').style.display = 'block';
         status.textContent = ''; input.value = ''; return; }"""
        if rejects_upload
        else ""
    )
    return f"""<!doctype html><html><head><title>Initech - Backend Engineer</title></head><body>
<div class="posting-headline"><h2>Backend Engineer</h2></div>
<form id="application-form" method="POST" action="{action}" enctype="multipart/form-data">
 <h4>Submit your application</h4>
 <ul>
  <li class="application-question resume"><label><div class="application-label">Resume/CV<span class="required">✱</span></div>
   <div class="application-field"><a class="template-btn-utility visible-resume-upload">ATTACH RESUME/CV</a>
   <input type="file" id="resume-upload-input" class="invisible-resume-upload" name="resume" style="opacity:0;position:absolute">
   <span class="resume-upload-working"></span>
   <div class="resume-upload-oversize" style="display:none" role="alert">Your file is too large or of a type we cannot accept.</div></div></label></li>
  <li class="application-question"><label><div class="application-label">Full name<span class="required">✱</span></div>
   <div class="application-field"><input type="text" data-qa="name-input" name="name" autocomplete="name" required></div></label></li>
  <li class="application-question"><label><div class="application-label">Email<span class="required">✱</span></div>
   <div class="application-field"><input type="email" data-qa="email-input" name="email" required></div></label></li>
  <li class="application-question"><label><div class="application-label">Phone</div>
   <div class="application-field"><input type="text" data-qa="phone-input" name="phone"></div></label></li>
  <li class="application-question"><label><div class="application-label">Current location</div>
   <div class="application-field"><input type="text" name="location" data-qa="location-input">
   <input type="hidden" name="selectedLocation"></div></label></li>
  <li class="application-question"><label><div class="application-label">Current company</div>
   <div class="application-field"><input type="text" name="org" data-qa="org-input"></div></label></li>
 </ul>
 <h4>Links</h4><ul>
  <li class="application-question"><label><div class="application-label">LinkedIn URL</div>
   <div class="application-field"><input type="text" name="urls[LinkedIn]"></div></label></li>
  <li class="application-question"><label><div class="application-label">GitHub URL</div>
   <div class="application-field"><input type="text" name="urls[GitHub]"></div></label></li>
 </ul>
 <ul>
 {
        _lever_card(
            card,
            "Are you legally authorized to work in the United Kingdom?",
            f'''<ul data-qa="multiple-choice"><li><label><input type="radio" name="cards[{card}][field0]" value="Yes" required><span class="application-answer-alternative">Yes</span></label></li>
   <li><label><input type="radio" name="cards[{card}][field0]" value="No"><span class="application-answer-alternative">No</span></label></li></ul>''',
            required=True,
        )
    }
 {
        _lever_card(
            card2,
            "Will you now or in the future require sponsorship?",
            f'''<select name="cards[{card2}][field0]" required><option value="">Select...</option><option>Yes</option><option>No</option></select>''',
            required=True,
        )
    }
 {
        _lever_card(
            card2,
            "What is the most complex system you have built, and what was your part in it?",
            f'''<textarea name="cards[{card2}][field1]" placeholder="Type your response" required></textarea>''',
            required=True,
        )
    }
 </ul>
 <h4>Additional information</h4>
 <textarea name="comments" id="additional-information" placeholder="Add a cover letter or anything else you want to share."></textarea>
 <div class="section eeo"><h4>U.S. Equal Employment Opportunity information</h4>
  <label>Gender<select name="eeo[gender]"><option value="">Select ...</option><option>Male</option><option>Female</option><option>Decline to self-identify</option></select></label>
  <label>Race<select name="eeo[race]"><option value="">Select ...</option><option>Asian (Not Hispanic or Latino)</option><option>White (Not Hispanic or Latino)</option><option>Decline to self-identify</option></select></label>
  <label>Veteran status<select name="eeo[veteran]"><option value="">Select ...</option><option>I am a veteran</option><option>I am not a veteran</option><option>Decline to self-identify</option></select></label>
 </div>
 <input type="hidden" id="hcaptchaResponseInput" name="h-captcha-response">
 <button type="submit" id="hcaptchaSubmitBtn" class="hidden" style="display:none"></button>
 <button type="button" id="btn-submit" data-qa="btn-submit" class="template-btn-submit">Submit application</button>
</form>
<script>
const input = document.getElementById('resume-upload-input');
const status = document.querySelector('.resume-upload-working');
input.addEventListener('change', () => {{ {upload_check}
  status.textContent = 'Analyzing resume...'; setTimeout(() => status.textContent = 'Success!', 200); }});
// The invisible hCaptcha (stubbed: it passes), then the hidden real submit.
document.getElementById('btn-submit').addEventListener('click', () => {{
  setTimeout(() => {{ document.getElementById('hcaptchaResponseInput').value = 'P1_stand-in-token';
    document.getElementById('hcaptchaSubmitBtn').click(); }}, 150);
}});
</script></body></html>"""


def _ashby_entry(path: str, title: str, control: str, *, required: bool) -> str:
    required_class = " _required_1x9ku_1" if required else ""
    return f"""<div class="_fieldEntry_17w1h_29 ashby-application-form-field-entry" data-field-path="{path}">
 <label class="_heading_101oc_53{required_class} ashby-application-form-question-title" for="{path}">{title}</label>
 {control}</div>"""


_SPONSOR_ID = "8c5e2f1a-6d4b-4a3e-9f7c-2b1d0e9a8c7f"
_START_ID = "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"
_LINKEDIN_ID = "7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928"
ASHBY = f"""<!doctype html><html><head><title>Data Engineer @ Umbrella</title>
<style>._required_1x9ku_1::after {{ content: "*"; color: red; }}</style></head><body>
<div id="root"><div class="ashby-job-posting-heading">Data Engineer</div>
<div role="tablist"><a role="tab">Overview</a><a role="tab" aria-selected="true">Application</a></div>
<div class="ashby-application-form-container">
 <div class="_autofillPane_1 ashby-application-form-autofill-pane"><p>Autofill from resume</p>
  <button type="button">Upload file</button></div>
 {
    _ashby_entry(
        "_systemfield_name",
        "Name",
        '<input id="_systemfield_name" name="_systemfield_name" class="ashby-application-form-input" placeholder="Type here..." required>',
        required=True,
    )
}
 {
    _ashby_entry(
        "_systemfield_email",
        "Email",
        '<input id="_systemfield_email" name="_systemfield_email" type="email" class="ashby-application-form-input" placeholder="hello@example.com..." required>',
        required=True,
    )
}
 {
    _ashby_entry(
        "_systemfield_phone",
        "Phone",
        '<input id="_systemfield_phone" name="_systemfield_phone" type="tel" class="ashby-application-form-input" placeholder="Type here...">',
        required=False,
    )
}
 {
    _ashby_entry(
        "_systemfield_resume",
        "Resume",
        '''<div class="_dropzone_1"><input id="_systemfield_resume" name="_systemfield_resume" type="file" style="clip:rect(0 0 0 0);position:absolute;width:1px;height:1px">
   <button type="button">Upload File</button><span>or drag and drop here</span></div>''',
        required=True,
    )
}
 {
    _ashby_entry(
        _LINKEDIN_ID,
        "LinkedIn Profile",
        f'<input id="{_LINKEDIN_ID}" name="{_LINKEDIN_ID}" class="ashby-application-form-input" placeholder="Type here...">',
        required=False,
    )
}
 {
    _ashby_entry(
        _SPONSOR_ID,
        "Will you require visa sponsorship to work for us?",
        f'''<div class="_yesno_1"><button type="button" class="_option_1" aria-pressed="false" data-option="yes">Yes</button>
   <button type="button" class="_option_1" aria-pressed="false" data-option="no">No</button>
   <input type="checkbox" name="{_SPONSOR_ID}" id="{_SPONSOR_ID}" style="display:none" tabindex="-1"></div>''',
        required=True,
    )
}
 {
    _ashby_entry(
        _START_ID,
        "Earliest start date",
        f'<input id="{_START_ID}" name="{_START_ID}" class="ashby-application-form-input" placeholder="Pick date..." required>',
        required=True,
    )
}
 <button type="button" class="ashby-application-form-submit-button">Submit Application</button>
</div></div>
{_SEND_JSON}
<script>
for (const group of document.querySelectorAll('._yesno_1')) {{
  const box = group.querySelector('input[type=checkbox]');
  for (const b of group.querySelectorAll('button')) b.addEventListener('click', () => {{
    for (const o of group.querySelectorAll('button')) o.setAttribute('aria-pressed', String(o === b));
    box.checked = b.dataset.option === 'yes'; group.dataset.answered = b.dataset.option;
  }});
}}
document.querySelector('.ashby-application-form-submit-button').addEventListener('click', async () => {{
  const root = document.querySelector('.ashby-application-form-container');
  const missing = [...root.querySelectorAll('input[required]')].filter((i) => !i.value).map((i) => i.id);
  if (!document.getElementById('_systemfield_resume').files.length) missing.push('_systemfield_resume');
  if (!root.querySelector('._yesno_1').dataset.answered) missing.push('{_SPONSOR_ID}');
  if (missing.length) {{ document.body.dataset.errors = missing.join(','); return; }}
  const extra = [...root.querySelectorAll('._yesno_1')].map((g) => [g.querySelector('input').name, g.dataset.answered]);
  const sent = await sendJson('/api/non-user-graphql?op=ApiSubmitSingleApplicationFormAction', root, extra);
  if (sent) root.innerHTML = '<div class="ashby-application-form-success-container"><h2>Thank you for applying</h2><p>Your application was successfully submitted. We\\'ll contact you if there are next steps.</p></div>';
}});
</script></body></html>"""


WORKABLE = f"""<!doctype html><html><head><title>Backend Developer - Hooli</title></head><body>
<main><div data-ui="job-header"><h1>Backend Developer</h1></div>
<nav><a data-ui="role-overview-tab">Overview</a><a data-ui="application-form-tab">Application</a></nav>
<form data-ui="application-form" novalidate>
 <section data-ui="section"><h2>Personal information</h2><p>* Required fields</p>
  <div><label id="firstname_label"><strong>*</strong>First name</label>
   <input id="firstname" name="firstname" data-ui="firstname" maxlength="127" required aria-labelledby="firstname_label"></div>
  <div><label id="lastname_label"><strong>*</strong>Last name</label>
   <input id="lastname" name="lastname" data-ui="lastname" maxlength="127" required aria-labelledby="lastname_label"></div>
  <div><label id="email_label"><strong>*</strong>Email</label>
   <input id="email" name="email" type="email" data-ui="email" maxlength="255" required aria-labelledby="email_label"></div>
  <div><label id="phone_label">Phone</label>
   <input id="phone" name="phone" type="tel" data-ui="phone" aria-labelledby="phone_label"></div>
  <div><label id="address_label">Address</label>
   <input id="address" name="address" data-ui="address" aria-labelledby="address_label"></div>
 </section>
 <section data-ui="section"><h2>Profile</h2>
  <div><label id="resume_label"><strong>*</strong>Resume</label>
   <div data-ui="resume-dropzone">Upload a file or drag and drop here
   <input id="input_files_input_x7k2" data-ui="resume" type="file" aria-labelledby="resume_label"
    accept=".pdf,.doc,.docx,.odt,.rtf" style="display:none"></div><span id="resume_name"></span></div>
  <div><label id="cover_letter_label">Cover letter</label>
   <textarea id="cover_letter" name="cover_letter" data-ui="cover_letter" aria-labelledby="cover_letter_label"></textarea></div>
 </section>
 <section data-ui="section"><h2>Details</h2>
  <fieldset role="radiogroup" data-ui="QA_5820173" aria-labelledby="QA_5820173_label" aria-required="true">
   <legend id="QA_5820173_label"><strong>*</strong>Will you now or in the future require sponsorship to work in the UK?</legend>
   <div role="radio" data-ui="option" aria-checked="false"><input type="radio" name="QA_5820173" value="true" aria-hidden="true" tabindex="-1"><span>YES</span></div>
   <div role="radio" data-ui="option" aria-checked="false"><input type="radio" name="QA_5820173" value="false" aria-hidden="true" tabindex="-1"><span>NO</span></div>
  </fieldset>
  <div><label id="QA_5820174_label"><strong>*</strong>When can you start?</label>
   <input id="QA_5820174" name="QA_5820174" data-ui="QA_5820174" placeholder="MM/DD/YYYY" inputmode="tel" required aria-labelledby="QA_5820174_label">
   <span class="calendar-icon"></span></div>
  <div><label id="QA_5820175_label"><strong>*</strong>Are you willing to relocate?</label>
   <select id="QA_5820175" name="QA_5820175" data-ui="QA_5820175" required aria-labelledby="QA_5820175_label">
    <option value="">Select an option…</option><option value="yes">Yes</option><option value="no">No</option></select></div>
 </section>
 <div id="turnstile-container-1" style="display:none"></div>
 <button type="submit" data-ui="apply-button">Submit application</button>
</form></main>
{_SEND_JSON}
<script>
window.attached = {{}};
const file = document.querySelector('[data-ui=resume]');
file.addEventListener('change', () => {{ window.attached.resume = file.files[0];
  document.getElementById('resume_name').textContent = file.files[0].name + ' Delete'; file.value = ''; }});
for (const r of document.querySelectorAll('[role=radio]')) r.addEventListener('click', () => {{
  for (const o of r.parentElement.querySelectorAll('[role=radio]')) {{ o.setAttribute('aria-checked', String(o === r));
    o.querySelector('input').checked = o === r; }} }});
document.querySelector('[data-ui=application-form]').addEventListener('submit', async (e) => {{
  e.preventDefault(); const form = e.target;
  const missing = [...form.querySelectorAll('[required]')].filter((i) => !i.value).map((i) => i.name);
  if (!form.querySelector('input[name=QA_5820173]:checked')) missing.push('QA_5820173');
  if (!window.attached.resume) missing.push('resume');
  if (missing.length) {{ document.body.dataset.errors = missing.join(','); return; }}
  const button = form.querySelector('[data-ui=apply-button]'); button.textContent = 'Submitting…';
  if (await sendJson('/api/v1/jobs/63E337FA43/apply', form, [['X-TURNSTILE-TOKEN', 'stand-in']]))
    document.querySelector('main').innerHTML = '<div data-ui="application-success"><h2>Thank you!</h2>'
      + '<p>Your application has been submitted successfully.</p></div>';
}});
</script></body></html>"""


SMARTRECRUITERS = (
    """<!doctype html><html><head><title>Vandelay Industries - Apply</title></head><body>
<oc-app-root><oc-oneclick-form-root>
 <div class="step" data-step="1"><h2>Resume</h2>
  <spl-dropzone data-test="resume-upload"></spl-dropzone>
  <spl-button data-test="next">Next</spl-button></div>
 <div class="step" data-step="2" hidden><oc-personal-information><h2>Personal information</h2>
  <spl-input data-id="first-name-input" data-label="First name" data-required></spl-input>
  <spl-input data-id="last-name-input" data-label="Last name" data-required></spl-input>
  <spl-input data-id="email-input" data-label="Email" data-type="email" data-required></spl-input>
  <spl-input data-id="confirm-email-input" data-label="Confirm your email" data-type="email" data-required></spl-input>
  <spl-input data-id="phone-input" data-label="Phone number" data-type="tel" data-required></spl-input>
  <spl-input data-id="linkedin-input" data-label="LinkedIn profile"></spl-input>
  </oc-personal-information>
  <spl-button data-test="next">Next</spl-button></div>
 <div class="step" data-step="3" hidden><h2>Screening questions</h2>
  <sr-question-field-select><label for="q-relocate">Are you willing to relocate? *</label>
   <select id="q-relocate" name="q-relocate" required><option value="">Select</option><option>Yes</option><option>No</option></select></sr-question-field-select>
  <spl-input data-id="q-salary" data-label="What are your salary expectations?" data-required></spl-input>
  <spl-button data-test="submit">Submit</spl-button></div>
</oc-oneclick-form-root></oc-app-root>
"""
    + _SEND_JSON
    + """
<script>
class SplInput extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({mode: 'open'}), d = this.dataset;
    const star = 'required' in d ? '*' : '';
    root.innerHTML = `<label for="${d.id}">${d.label}${star}</label>
      <input id="${d.id}" type="${d.type || 'text'}" ${star ? 'required' : ''}>`;
  }
}
class SplDropzone extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({mode: 'open'});
    root.innerHTML = `<label for="resume-file">Resume*</label><p>Choose a file or drop it here</p>
      <input id="resume-file" type="file" accept=".pdf,.doc,.docx" required style="display:none">`;
  }
}
class SplButton extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({mode: 'open'});
    root.innerHTML = `<button type="button">${this.textContent}</button>`;
    root.querySelector('button').addEventListener('click', () => this.dispatchEvent(new Event('press', {bubbles: true})));
  }
}
customElements.define('spl-input', SplInput);
customElements.define('spl-dropzone', SplDropzone);
customElements.define('spl-button', SplButton);
function inputsOf(step) {
  const found = [];
  for (const el of step.querySelectorAll('*')) {
    if (el.shadowRoot) found.push(...el.shadowRoot.querySelectorAll('input'));
    if (['INPUT', 'SELECT'].includes(el.tagName)) found.push(el);
  }
  return found;
}
document.addEventListener('press', async (e) => {
  const step = e.target.closest('.step');
  const missing = inputsOf(step).filter((i) => i.required && !(i.type === 'file' ? i.files.length : i.value));
  if (missing.length) { document.body.dataset.errors = missing.map((i) => i.id).join(','); return; }
  if (e.target.dataset.test === 'next') {
    step.hidden = true; step.nextElementSibling.hidden = false; delete document.body.dataset.errors; return;
  }
  const root = document.querySelector('oc-oneclick-form-root');
  if (await sendJson('/oneclick-ui/api/apply', root, []))
    root.innerHTML = '<div class="confirmation"><h2>Thank you for applying!</h2><p>Your application has been sent to Vandelay Industries.</p></div>';
});
</script></body></html>"""
)


WORKDAY = """<!doctype html><html><head><title>Backend Engineer - Careers</title></head><body>
<div data-automation-id="applyFlowPage"><ol data-automation-id="progressBar"><li>current step 1 of 7</li></ol>
<h2>Create Account</h2>
<label for="email">Email Address*</label><input id="email" data-automation-id="email" type="text">
<label for="password">Password*</label><input id="password" data-automation-id="password" type="password">
<label for="verifyPassword">Verify New Password*</label><input id="verifyPassword" data-automation-id="verifyPassword" type="password">
<input data-automation-id="beecatcher" name="website" style="height:0;border:0">
<input type="checkbox" data-automation-id="createAccountCheckbox" id="cac"><label for="cac">I agree</label>
<div role="button" data-automation-id="click_filter" aria-label="Create Account"></div>
<a data-automation-id="signInLink" href="#">Sign In</a></div></body></html>"""

PAGES = {
    "greenhouse": _greenhouse_classic("/acme/jobs/4012345"),
    "greenhouse_confirmation": """<!doctype html><html><head><title>Acme</title></head><body>
<div id="application_confirmation"><h1>Thank you for applying.</h1>
<p>Your application has been received. We will review it right away.</p></div></body></html>""",
    "greenhouse_new": GREENHOUSE_NEW,
    "greenhouse_new_confirmation": """<!doctype html><html><head><title>Globex</title></head><body>
<main class="confirmation"><h1>Thank you for applying</h1><p>Your application has been submitted.</p></main></body></html>""",
    "lever": _lever("/initech/9f1c2a6e-3b8d-4f7a-9c51-2d7e8b6a4f10/apply"),
    "lever_thanks": """<!doctype html><html><head><title>Initech</title></head><body>
<div class="section page-centered application-confirmation"><h3 data-qa="msg-submit-success">Application submitted!</h3>
<p>Thank you for your interest in Initech.</p></div></body></html>""",
    "ashby": ASHBY,
    "workable": WORKABLE,
    "smartrecruiters": SMARTRECRUITERS,
    "captcha": _greenhouse_classic("/wonka/jobs/4099999", captcha=True),
    "greenhouse_letter_file": _greenhouse_classic("/piedpiper/jobs/4012345", letter_file=True),
    "greenhouse_draft": _greenhouse_classic("/initrode/jobs/4012345", saves_draft=True),
    "workday": WORKDAY,
    "upload_rejected": _lever(
        "/massive/9f1c2a6e-3b8d-4f7a-9c51-2d7e8b6a4f10/apply", rejects_upload=True
    ),
}
