"""A job's keywords in any field, without a word list of the field: the vocabulary's terms,
the names a clause gives (tools, products, certifications, licences, regulations: "QuickBooks",
"HIPAA", "CPA", "Class A CDL"), and the noun phrases of its requirement and duty sentences
("accounts payable", "patient scheduling", "direct mail campaigns").

Noun phrases are the runs of words between what cannot be part of one: punctuation, function
words, verbs, adverbs, and the words every job advertisement uses ("experience", "strong",
"ability"). A phrase keeps at most four words; a single word is kept when it names a thing
("payroll", "telemarketing"), not when it could stand in any job ("services", "support").
Pure regular expressions and a few word lists: fast enough to run on every tailoring.
"""

from __future__ import annotations

import re
from functools import lru_cache

from server.agent.engines.vocabulary import canonical_name, find_terms
from server.agent.verifier.lexicon import FUNCTION_WORDS, verb_forms

MAX_PHRASE_WORDS = 4
# Abbreviations in capitals that say nothing about the work: places, legal forms, benefits,
# equal-opportunity statements, schedules.
_NOT_NAMES = frozenset(
    """
    US USA U.S UK EU EEO EOE FLSA PTO OTE RSU RSUS LLC LLP INC CEO CFO COO CTO VP SVP EVP HR
    AM PM EST PST CST MST ET PT NY CA WA TX DC FL IL CO MN IA SD NE NJ MA GA OR OH PA TN AZ
    II III IV BIPOC LGBTQ LGBTQIA ADA FAQ ASAP TBD NA N/A OK ID GPA
    """.split()
)
# Capitalised words that are not names of tools or credentials.
_NOT_NAMED_WORDS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december bachelor bachelors master masters
    degree phd associate diploma required preferred must will the a an our we you this that
    these they it in on at for of and or with to by from as is are be all any other key
    responsibilities qualifications requirements benefits overview summary about role
    education experience skills
    """.split()
)
# Days, months and places (states of the US and Canada, countries that job descriptions
# name): when and where the job is, never what it asks for.
_DAY = re.compile(
    r"^(?:mon|tues|wednes|thurs|fri|satur|sun)days?(?:-\w+)?$|^(?:am|pm|a\.m|p\.m)$",
    re.IGNORECASE,
)
_PLACE = re.compile(
    r"\b(?:Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|"
    r"Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|"
    r"Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|"
    r"New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    r"Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|"
    r"Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico|"
    r"District of Columbia|Ontario|Quebec|British Columbia|Alberta|United States|"
    r"United Kingdom|Canada|Mexico|Europe|America|Southeast|Southwest|Northeast|Northwest|"
    r"Midwest)(?:ns|ians|ers)?\b"
)
# A town and its state's postal code ("Phoenix, AZ", "Durham, NC"), and the towns a
# state names after a dash ("Arizona—Phoenix, Tucson, and Flagstaff"): where, not what.
_STATE_CODE = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_TOWN = r"[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?"
_TOWN_AND_STATE = re.compile(
    rf"\b{_TOWN},[ \t]*(?:{_STATE_CODE})\b(?![\w.-])|"
    rf"{_PLACE.pattern}[ \t]*[—–][ \t]*{_TOWN}(?:,?[ \t]*(?:(?:and|or)[ \t]+)?{_TOWN})*"
)
_ACRONYM = re.compile(
    r"(?<![\w/.-])(?:[A-Z](?:[A-Za-z0-9]*[A-Z0-9])?(?:[/&][A-Z0-9]+)+|"
    r"[A-Z][A-Za-z0-9]*[A-Z0-9](?:/[A-Z0-9]+)*|\d{3}\(c\)\(?\d\)?)(?![\w-])"
)
# Names with capitals inside or a dot between letters: QuickBooks, HubSpot, Salesforce.com.
_INNER_CAPITAL = re.compile(
    r"(?<![\w.])[A-Za-z]*[a-z][A-Z][\w]*(?:\.[a-z]+)?|[A-Z][a-z]+\.(?:com|js|io|net)\b"
)
_CAPITALISED_RUN = re.compile(r"(?<![\w./])[A-Z][\w+#.&-]*(?:\s+(?:[A-Z][\w+#.&-]*|of|and|&))*")
_TOKEN = re.compile(r"[A-Za-z0-9][\w'’&+#./-]*[\w+#]|[A-Za-z0-9]|[^\w\s]")
# Words of job advertisements, adjectives of degree and generic nouns: never part of a
# keyword phrase, and never a keyword alone.
_NOT_IN_PHRASE = frozenset(
    """
    experience experienced years year strong good great excellent solid proven ability able
    abilities skill skills knowledge understanding familiarity comfort comfortable preferred
    bonus ideally nice required requirement requirements desired minimum least degree related
    field equivalent similar relevant role roles position candidate candidates opportunity
    opportunities etc several various multiple advantage considered fluent daily track record
    professional deep expert expertise proficiency proficient advanced basic grasp sound
    fluency highly high level levels highest quality best top great new full full-time
    part-time time day-to-day ongoing overall general wide broad array variety range number
    large small very really truly essential critical important including include includes
    ensure ensuring appropriate appropriately needed need needs needed as-needed other others
    ideal successful successfully passion passionate committed commitment dedicated drive
    spirit relentless continual continuous excellence amazing dynamic exciting fast-paced
    paced environment environments setting settings team teams member members staff people
    person someone individual individuals organization organizations organisation company
    companies business businesses mission work job jobs duties duty tasks task functions
    function aspects aspect areas area all any some many much most more less own key primary
    main major way ways part parts world million millions thousands plus us within across
    daily weekly monthly annual annually internal external both well responsible
    responsibility direction proper routine valid current active eligibility eligible
    successful willingness willing desire not no regarding concerning according works
    exceptional meticulous potential comprehensive diverse thoughtful cutting-edge
    high-growth high-quality world-class outstanding superb efficient effective addition
    example instance hour hours day days week weeks month
    months bachelor bachelors master masters gpa degree
    degrees diploma internship internships intern interns graduate graduates undergraduate
    student students senior junior entry-level mid-level one two three four five six seven
    eight nine ten twelve twenty hundred hundreds thousand billion billions dozens
    forty fifty even once sometimes often always never better
    telecommute telecommuting telework teleworking remote hybrid in-person onsite on-site
    anywhere
    """.split()
)
# A person's qualities and dispositions ("positive attitude", "inquisitive mindset", "high
# energy"), and nouns that only frame a phrase ("under their purview", "the entirety of",
# "on a monthly basis"): never a skill, never part of one.
_QUALITIES = frozenset(
    """
    attitude attitudes mindset mindsets energy acumen attribute attributes trait traits whiz
    belief beliefs purview entirety eagerness enthusiasm curiosity motivation interest
    interests lookout basis realm regard regards respect sense desire hunger humility
    integrity creativity personality character temperament aptitude talent talents
    challenge challenges style styles situation situations objective objectives
    """.split()
)
# Adjectives of degree, time or judgement ("emerging incidents", "occasional pair
# programming", "a keen interest", "the latest tooling"): how or when, never which thing.
# Words that classify ("financial records", "social media", "clinical care") stay.
_QUALITATIVE = frozenset(
    """
    emerging proactive live first last entire complex simple manual keen latest unique
    constant competitive repetitive positive negative superior occasional periodic frequent
    significant quick quickly eager fast healthy safe accurate warm heavy typical correct
    prior upcoming existing current future past recent specific particular certain clean low
    clear open right wrong forward ahead tough hard difficult
    standard general common usual unusual popular additional extra further immediate
    optimal smooth seamless robust timely consistent honest reasonable enthusiastic
    motivated organized talented skilled driven collaborative creative curious
    """.split()
)
# A single word with an abstract noun's ending names a quality ("consistency",
# "professionalism"), or with an adjective's a property ("efficient", "recent"):
# neither is a thing a job asks for.
_ABSTRACT = re.compile(r"(?:ism|ency|[^m]ent|ity|ness)$")
_CONTRACTION = re.compile(r"['’](?:ll|re|ve|d|m)$", re.IGNORECASE)
# Single words that could stand in any job description: kept only inside a longer phrase.
_GENERIC_NOUNS = frozenset(
    """
    services service support systems system processes process programs program projects
    project products product solutions solution tools tool clients client customers customer
    patients patient users user partners partner stakeholders community communities growth
    impact success results goals goal needs care health data information operations
    management development planning strategy strategies initiatives initiative efforts
    activities activity materials resources standards practices practice policies policy
    procedures procedure requests issues matters things decisions leadership collaboration
    communication communications detail details attention organizational organization
    problem-solving interpersonal manner approach approaches platform platforms technology
    technologies innovation innovative values value benefits benefit salary pay location
    office offices home center centers state states country countries access level order
    reach scale performance delivery experiences feedback relationships relationship
    contact application applications applicants interview insights insight response
    certification certifications license licence licenses certificate coordination
    assistance numbers figures question questions flows improvement improvements period
    periods step steps problem problems change changes request requests concept concepts
    method methods date dates relation relations adoption portfolio case cases interaction
    interactions volume display list lists point points responsibilities text start room
    rooms provision importance shape market domain liaison ownership entity entities
    affiliate affiliates item items purpose purposes meetings priority priorities
    stage stages paper papers source sources context progress input completion status
    format implementation execution
    """.split()
)
# Nouns of an activity: "planning", "analysis", "management", "integration", "maintenance".
_ACTIVITY = re.compile(r"(?:ing|sis|tion|ment|ance)$")
_PLURAL = re.compile(r"[^su]s$")
_TRAILING_PARTICIPLE = re.compile(r"^[a-z]{2,}[^e]ed$")
_SLASH = re.compile(r"(?<=[a-z])/(?=[a-z])")
_ROLE_WORDS = frozenset(
    """
    manager managers director directors assistant assistants coordinator coordinators
    bookkeeper accountant specialist officer supervisor lead head president executive
    executives engineer engineers analyst analysts nurse educator representative
    representatives associate associates consultant consultants board team department
    writer writers editor editors leader leaders thinker thinkers communicator
    communicators expert experts employee employees clinician clinicians colleague
    colleagues women men people persons individual individuals professional professionals
    worker workers developer developers contractor contractors recruiter recruiters builder
    builders founder founders vps staff chief counsel """.split()
)
_ADVERB = re.compile(r"^[a-z]{3,}ly$")
# Nouns in -ly ("family planning", "office supply management"), not adverbs.
_LY_NOUNS = frozenset("family supply assembly anomaly monopoly ally rally july italy".split())
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
# A single word with an adjective's or a participle's ending says how, not what.
_ADJECTIVE = re.compile(
    r"(?:al|ive|ous|ful|ic|able|ible|ary|ed|-focused|-oriented|-driven|-based|-centered)$"
)
# Nouns in -ing: an activity that is a skill ("bookkeeping"), not a verb that acts on one.
ING_NOUNS = frozenset(
    """
    accounting marketing bookkeeping fundraising copywriting proofreading editing filing
    scheduling budgeting forecasting invoicing billing auditing reporting counseling
    counselling screening testing training trainings nursing teaching tutoring programming
    engineering networking debugging modeling modelling planning purchasing shipping
    receiving welding plumbing wiring landscaping housekeeping cleaning catering cooking
    banking lending underwriting recruiting onboarding prospecting telemarketing advertising
    branding publishing printing staffing consulting coaching mentoring monitoring charting
    triaging driving storytelling messaging ticketing merchandising procurement sourcing
    """.split()
)


# Verbs of duties and requirements beyond the verifier's list ("Administer medications",
# "Respond to incidents", "requires close collaboration"), in every form.
_ACTION_VERBS = """
    administer respond read measure tune greet answer inspect elect qualify explain
    understand continue require entail comes come fluctuate specialize specialise enjoy
    accept adhere advise align allocate approve arrange attract advocate bring calculate
    clarify communicate compile comply consult convene craft cultivate decide dedicate
    deepen describe determine distribute educate empower encourage enter escalate examine
    exceed explore follow gather generate grow guide hear hold implement inform inspire
    instruct interact interpret learn listen look love manage mobilize navigate negotiate
    notify nurture obtain oversee participate prefer procure protect pull raise recognize
    recommend refer reflect register relate rely remain represent reside retain route seek
    select speak strengthen submit suggest supervise sustain take teach think thrive
    transform travel treat uphold verify want welcome wish reconcile involve know acquire
    garner revise tell
"""
# Words that are verbs where a requirement or a duty starts ("Schedule meetings", "Process
# invoices", "Support cash counts") and nouns elsewhere ("patient scheduling", "budget").
_OPENING_VERBS = frozenset(
    """
    schedule process file order stock repair transport clean research support design plan
    budget draft report track test document review train lead direct staff monitor market
    source screen chart post record ship produce program model engineer travel
    """.split()
)


def _forms(verb: str) -> set[str]:
    """A regular verb's base, -s, -ed and -ing forms."""
    stem_ = verb[:-1] if verb.endswith("e") else verb
    plural = verb + ("es" if verb.endswith(("s", "sh", "ch", "x", "z")) else "s")
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return {verb, verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"}
    return {verb, plural, stem_ + "ed", stem_ + "ing"}


@lru_cache(maxsize=1)
def _verbs() -> frozenset[str]:
    return (
        verb_forms()
        | frozenset(
            """
        manage manages managed oversee oversees ensure ensures serve serves seek seeks seeking
        join joins looking hiring perform performs need needs help helps include includes
        increase increases expand expands grow grows drive drives collect collects
        maintain maintains promote promotes engage engages travel travels coordinate
        coordinates address addresses assist assists keep keeps stay stays offer offers
        provide provides delivering delivers deliver embrace embraces possess possesses
        juggle prioritize prioritizes prioritise thrive thrives pursue pursuing
        """.split()
        )
        | {form for verb in _ACTION_VERBS.split() for form in _forms(verb)}
    ) - {
        "reporting",
        "testing",
        "planning",
        "budgeting",
        "training",
        "trainings",
        "writing",
        "editing",
        "marketing",
        "accounting",
        "bookkeeping",
        "filing",
        "scheduling",
        "programming",
        "engineering",
        "monitoring",
        "design",
        "research",
        "support",
        "deployment",
        "documentation",
        "debugging",
        "prospecting",
        "fundraising",
        "copywriting",
        "proofreading",
        "telemarketing",
        "counseling",
        "screening",
        "networking",
        "modeling",
        "modelling",
        "outreach",
        "production",
        "meeting",
        "meetings",
        "direct",
        "travel",
        "project",
        "projects",
        "lead",
        "leads",
    }


# Verbs by their ending ("evangelize", "socialize", "prioritise", "simplify"), but for the
# nouns that share it.
_VERB_ENDING = re.compile(r"^[a-z]{3,}(?:iz|yz|[iao][lmrn]is|ifi|if)(?:e|es|ed|ing|y|ies|ied)$")
_NOT_VERBS_BY_ENDING = frozenset("expertise enterprise franchise merchandise premise".split())
# Words after which a clause's first word is still part of a noun phrase ("Partnership and
# capacity building", "Knowledge of Excel").
_JOINING = frozenset("and or of & plus".split())
# Determiners: a word between the start of a duty and one of these is its verb ("Socialize
# the solution approach", "Architect/Design the solution").
_DETERMINERS = frozenset("the a an our all their its your any each every".split())


def _is_breaker(word: str) -> bool:
    lowered = word.lower()
    return (
        lowered in FUNCTION_WORDS
        or (bool(_VERB_ENDING.match(word)) and lowered not in _NOT_VERBS_BY_ENDING)
        or bool(_DAY.match(lowered))
        or (word.isupper() and word.strip(".") in _NOT_NAMES)
        or lowered in _NOT_IN_PHRASE
        or lowered in _QUALITIES
        or (lowered in _QUALITATIVE and word[:1].islower())
        or lowered in _verbs()
        or (bool(_ADVERB.match(lowered)) and lowered not in _LY_NOUNS)
        or not re.search(r"[A-Za-z]", word)
        or bool(_CONTRACTION.search(lowered))
        or (lowered.endswith("ing") and lowered in _verbs())
    )


def names_in(clause: str) -> list[str]:
    """Names the clause gives: vocabulary terms aside, abbreviations in capitals (HIPAA, CPA,
    EMR, CI/CD, 501(c)(3)) and product names written with inner capitals or a domain
    (QuickBooks, HubSpot, Salesforce.com)."""
    found: list[str] = []
    for match in _ACRONYM.finditer(clause):
        word = match.group(0)
        if word.upper().strip(".") in _NOT_NAMES or len(word) < 2:
            continue
        if word.isupper() or "(" in word or any(c.isdigit() for c in word):
            found.append(word)
    found += [m.group(0) for m in _INNER_CAPITAL.finditer(clause)]
    return found


def _is_role(word: str) -> bool:
    """Whether a phrase's last word names people ("Operations Manager", "Leaders/Managers")."""
    lowered = word.lower().split("/")[-1]
    return lowered in _ROLE_WORDS or lowered.rstrip("s") in _ROLE_WORDS


def _capitalised(clause: str) -> list[str]:
    """Runs of capitalised words inside a sentence that is otherwise in lower case: the names
    of tools and platforms ("Excel", "Azure Monitor", "LinkedIn Sales Navigator")."""
    words = clause.split()
    lower = sum(1 for w in words if w[:1].islower())
    if len(words) < 4 or lower < len(words) / 2:
        return []  # a heading, a title or a list of names in title case
    found = []
    for match in _CAPITALISED_RUN.finditer(clause):
        if match.start() == 0 or clause[: match.start()].rstrip().endswith(
            (":", ".", "•", "-", "*")
        ):
            continue
        run = match.group(0).strip()
        kept = [w for w in run.split() if w.lower() not in _NOT_NAMED_WORDS and w not in _NOT_NAMES]
        if kept and _is_role(kept[-1]):
            continue  # a role or a team ("Operations Manager"), not a skill
        if kept[:1] and kept[0].lower() in _ROLE_WORDS and run.split()[1:2] == ["of"]:
            continue  # a role ("Director of Curriculum Innovation")
        if kept and kept[0] not in ("of", "and", "&") and len(kept) <= MAX_PHRASE_WORDS:
            found.append(" ".join(kept).rstrip(".,"))
    return found


def noun_phrases(clause: str) -> list[str]:
    """The clause's noun phrases: runs of words between breakers, at most four words, a single
    word only when it names a thing of its own."""
    phrases: list[str] = []
    run: list[str] = []
    runs: list[tuple[list[str], int]] = []  # each run, with the index of the token after it

    def flush() -> None:
        # A participle closing a run qualifies it ("sales leads based upon", "issues
        # discovered"): not part of the thing named.
        while run and (run[-1].lower() in ("and", "&") or _TRAILING_PARTICIPLE.search(run[-1])):
            run.pop()
        if run:
            runs.append((list(run), index))
        if run and len(run) <= MAX_PHRASE_WORDS:
            phrase = " ".join(run)
            single = len(run) == 1
            if _is_role(run[-1]):
                pass  # a role or a team ("Operations Manager"), not a skill
            elif not single or _specific(run[0]):
                phrases.append(phrase)
        run.clear()

    text = _SLASH.sub(" / ", _POSSESSIVE.sub("", clause))
    acting, previous = False, ""
    tokens = _TOKEN.findall(text)
    for index, token in enumerate(tokens):
        word = token.strip("'’.")
        lowered = word.lower()
        following = tokens[index + 1].lower() if index + 1 < len(tokens) else ""
        if index == 0:
            acting = lowered in _OPENING_VERBS or lowered in _verbs()
        # A duty or a requirement that opens with a verb's base form acts on what follows,
        # and so does a verb joined to it ("Measure quality and design experiments"; not
        # "from copywriting and design to production").
        opening = index == 0 or (
            acting and previous in ("and", "or", ",") and following not in FUNCTION_WORDS
        )
        previous = lowered
        if opening and lowered in _OPENING_VERBS:
            flush()
            continue
        if _opens_with_verb(tokens, index, joined=acting):
            flush()
            continue
        # A verb's -ing or -ed form that opens a phrase acts on it ("acquiring donors").
        if not run and lowered.endswith(("ing", "ed")) and lowered not in ING_NOUNS:
            if len(lowered) > 4:
                flush()
                continue
        # "communication skills", "capacity building", "meeting planning": a noun's skill
        # or activity closes its phrase (the noun before it names which one).
        if run and _closes_phrase(lowered, following):
            run.append(word)
            flush()
            continue
        if not word or _is_breaker(word):
            # "accounts payable and receivable": "and" joins two nouns of one phrase only
            # between words of a run.
            flush()
            continue
        run.append(word)
    index = len(tokens)
    flush()
    return phrases + _shared_words(runs, tokens)


def _shared_words(runs: list[tuple[list[str], int]], tokens: list[str]) -> list[str]:
    """The phrases two runs joined by "and"/"or" share a word of: "project and calendar
    management" names project management, "budget analysis and planning" budget planning,
    "accounts payable and receivable" accounts receivable."""
    found = []
    for (first, after), (second, _end) in zip(runs, runs[1:], strict=False):
        between = [t.lower() for t in tokens[after : after + 1 + len(second) + 3]]
        gap = []
        for token in between:
            if token.lower() == second[0].lower():
                break
            gap.append(token)
        if not gap or gap[0] not in ("and", "or", "&") or len(gap) > 2:
            continue
        if any(t not in _QUALITATIVE and t not in _NOT_IN_PHRASE for t in gap[1:]):
            continue
        if any(not w.islower() for w in first + second):
            continue  # names ("Training and Technical Assistance") are written whole
        # (Only a noun shares a head, "project and calendar management", not an adjective,
        # "legal and campaign strategies"; and only an activity shares a modifier, "budget
        # analysis and planning", not any noun, "database operations and concepts".)
        # A plural is a thing of its own ("invoices and purchase orders"), and a word
        # between the two starts a phrase of its own ("accounts payable or general
        # accounting").
        if len(first) == 1 and 2 <= len(second) <= MAX_PHRASE_WORDS - 1:
            word = first[0]
            if _ADJECTIVE.search(word) or word.endswith("ing") or _PLURAL.search(word):
                continue
            shared = [word, second[-1]]
        elif 2 <= len(first) <= MAX_PHRASE_WORDS and len(second) == 1 and len(gap) == 1:
            if not (_ACTIVITY.search(second[0]) and _ACTIVITY.search(first[-1])):
                continue
            shared = [*first[:-1], second[0]]
        else:
            continue
        if not _is_role(shared[-1]):
            found.append(" ".join(shared))
    return found


def _closes_phrase(lowered: str, following: str) -> bool:
    """Whether a word closes the run before it as its head: "skills", or an -ing noun at the
    end of a clause or before "and"/"or" ("capacity building", not "data following the")."""
    if lowered in ("skills", "skill"):
        return True
    return (
        lowered.endswith("ing")
        and len(lowered) > 5
        and lowered not in FUNCTION_WORDS
        and (not following or following in ("and", "or", ",", ".", ";", ")"))
    )


def _opens_with_verb(tokens: list[str], index: int, *, joined: bool = False) -> bool:
    """Whether the token at `index` is a clause's opening verb: the clause's first words
    (joined by "/") with a determiner, a preposition or an adjective of degree right after
    them ("Socialize the solution", "Liaise with", "Diagnose live incidents"); with `joined`,
    also a verb joined to the opening one ("Monitor and detect emerging incidents")."""
    end = index
    while end + 2 < len(tokens) and tokens[end + 1] == "/":
        end += 2
    start = index
    while start >= 2 and tokens[start - 1] == "/":
        start -= 2
    after_joint = joined and start >= 1 and tokens[start - 1].lower() in ("and", "or", ",")
    following = tokens[end + 1].lower() if end + 1 < len(tokens) else ""
    return (
        (start == 0 or after_joint)
        and tokens[start][:1].isalpha()
        and (start == 0 or tokens[start][:1].islower())
        and (
            following in _QUALITATIVE
            or following in _DETERMINERS
            # (Not after a joint: "from copywriting and design to production".)
            or (start == 0 and following in FUNCTION_WORDS and following not in _JOINING)
        )
    )


def _specific(word: str) -> bool:
    lowered = word.lower()
    if word.isupper() or any(c.isupper() for c in word[1:]):
        return len(word.strip("./")) > 1  # an abbreviation or a name (not a lone letter)
    return (
        len(lowered) >= 4
        and (lowered in ING_NOUNS or not lowered.endswith("ing"))
        and not _ADJECTIVE.search(lowered)
        and not _ABSTRACT.search(lowered)
        and "-" not in lowered  # "year-end", "co-create": a compound adjective or verb
        and lowered not in _GENERIC_NOUNS
        and lowered not in _NOT_IN_PHRASE
        and not lowered.isdigit()
    )


# "Under general supervision", "under the supervision of": the person is supervised, which
# asks for no skill of supervising.
_SUPERVISED = re.compile(r"\bunder (?:the )?(?:\w+ )?supervision\b", re.IGNORECASE)
# E-mail and web addresses: where to write, not what is asked.
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\bhttps?://\S+|\bwww\.\S+")

_NAME = r"[A-Z][\w&.’'-]*(?:[ \t]+(?:(?:of|for|the|and|&)[ \t]+)?[A-Z][\w&.’'-]*){0,5}"
# Where a description names its own organisation: "<Name> is a nonprofit", "<Name>'s
# mission", "join <Name>", "About <Name>".
_ORGANISATION = (
    # (A name may carry a region and its abbreviation: "Access Reproductive Care - Southeast
    # (ARC-Southeast) seeks".)
    re.compile(
        rf"(?:^|(?<=[.!?]\s)|(?<=\n))(?P<name>{_NAME})(?:[ \t]*[-–][ \t]*(?P<region>{_NAME}))?"
        r"(?:[ \t]*\((?P<short>[A-Z][\w&.-]*(?:[ \t]+[A-Z][\w&.-]*){0,3})\))?"
        r"(?:['’]s)?[ \t]+(?:is|are|was|has|have|"
        r"seeks|believes|strives|offers|provides|works|serves|exists|envisions|builds|hires|"
        r"helps|empowers|welcomes|encourages|invites)\b",
        re.MULTILINE,
    ),
    re.compile(
        rf"(?P<name>{_NAME})['’]s[ \t]+(?:mission|vision|values|team|staff|work|product|"
        r"products|platform|clients|customers|members|employees|community|culture|founders)\b"
    ),
    re.compile(rf"\bthe[ \t]+(?P<name>{_NAME})[ \t]+(?:organization|organisation|company)\b"),
    re.compile(rf"\b(?:[Jj]oin|About|at|At)[ \t]+(?P<name>{_NAME})"),
    re.compile(rf"\b(?:mission|vision|values) of[ \t]+(?P<name>{_NAME})"),
)
# The last word of a name of people: a role ("Specialist", "Physician", "Secretary").
_PERSON = re.compile(
    r"(?:ist|ian|ary|manager|director|assistant|coordinator|officer|supervisor|lead|head|"
    r"executive|engineer|analyst|nurse|educator|representative|associate|consultant|"
    r"paralegal|organizer|organiser|fellow|intern|clinician|worker|writer|editor|leader)s?$",
    re.IGNORECASE,
)
_NOT_ORGANISATION = frozenset(
    "the this that we you our it they he she a an in about at join".split()
)


@lru_cache(maxsize=32)
def organisation_names(document: str) -> frozenset[tuple[str, ...]]:
    """The names a description gives the organisation itself, as lower-case words: the
    employer, not a skill."""
    names: set[tuple[str, ...]] = set()
    for pattern in _ORGANISATION:
        for match in pattern.finditer(document):
            # "The ACLU of Northern California is seeking": the name without its article;
            # "The Certified Registered Nurse Anesthetist is part of the clinical team" names
            # the role, not the organisation.
            name = re.sub(r"^The[ \t]+(?=[A-Z])", "", match["name"])
            if name != match["name"] and _PERSON.search(name.split()[-1]):
                continue
            if name.split()[0].lower() in _NOT_ORGANISATION or find_terms(name):
                continue  # a sentence's subject, or a skill's or a tool's name ("About Python")
            # "Forward Together and Forward Together Action": two names.
            names.update(_name_words(part) for part in re.split(r"\s+(?:and|&)\s+", name))
            extra = match.groupdict()
            if extra.get("short"):
                names.add(_name_words(extra["short"]))
            if extra.get("region"):
                names.add(_name_words(f"{name} {extra['region']}"))
    return frozenset(names)


def _name_words(text: str) -> tuple[str, ...]:
    return tuple(w.lower().strip(".,’'") for w in re.split(r"[\s-]+", text) if w.strip(".,’'"))


def _of_the_organisation(keyword: str, document: str) -> bool:
    """Whether a keyword is the organisation's name or a capitalised part of it: its first
    words ("Forward Together" of "Forward Together Action"), one word ("Northern", "NorCal"
    of "ACLU of Northern California (ACLU NorCal)") or its last ones ("Democratic Party" of
    "Texas Democratic Party"). A word written in lower case is an ordinary word ("ballot" of
    "Ballot Initiative Strategy Center")."""
    words = _name_words(keyword)
    if not words or not document:
        return False
    names = organisation_names(document)
    if any(name[: len(words)] == words for name in names) and (
        len(words) > 1 or keyword[:1].isupper()
    ):
        return True
    capitalised = all(w[:1].isupper() or w.lower() in _JOINING for w in keyword.split())
    if not capitalised or words[0] in _JOINING:
        return False
    # (Joining words aside: "Tenant Defense League Eastern" of "Tenant Defense League of
    # Eastern Oregon", where the place was cut.)
    words = tuple(w for w in words if w not in _JOINING)
    inside = any(
        content[i : i + len(words)] == words
        for content in (tuple(w for w in name if w not in _JOINING) for name in names)
        for i in range(len(content) - len(words) + 1)
    )
    # (A part the description also writes outside the name is its own thing: "a deep belief
    # in Reproductive Justice" beside "ACCESS Reproductive Justice".)
    return inside and not re.search(_words_pattern(words), _without_names(document))


def _words_pattern(words: tuple[str, ...]) -> str:
    return r"(?<![\w])" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?![\w])"


@lru_cache(maxsize=32)
def _without_names(document: str) -> str:
    """The description with every mention of the organisation's names cut out, in lower case."""
    text = document.lower()
    for name in sorted(organisation_names(document), key=len, reverse=True):
        text = re.sub(_words_pattern(name), " , ", text)
    return text


# Duties whose verb names a competence a resume shows by its noun: "Supervise the recovery
# room assistant" asks for supervision, "Facilitating workshops" for facilitation.
_COMPETENCES = {
    "supervise": "supervision",
    "facilitate": "facilitation",
    "document": "documentation",
    "negotiate": "negotiation",
    "mentor": "mentoring",
    "recruit": "recruiting",
    "counsel": "counseling",
    "proofread": "proofreading",
    "edit": "editing",
    "audit": "auditing",
    "invoice": "invoicing",
    "fundraise": "fundraising",
}
_COMPETENCE_FORMS = {form: noun for verb, noun in _COMPETENCES.items() for form in _forms(verb)}


def _competences(clause: str) -> list[str]:
    """The competences a clause's verbs name (see _COMPETENCES)."""
    # (A capitalised word inside a sentence is a title or a name: "Chief IP Counsel".)
    words = [
        w.lower() for i, w in enumerate(re.findall(r"[A-Za-z]+", clause)) if i == 0 or w.islower()
    ]
    return [_COMPETENCE_FORMS[w] for w in words if w in _COMPETENCE_FORMS]


# Duties that act on a thing name the practice a resume shows by a noun phrase: "integrate
# and analyze data" is data integration and data analysis, "manage projects" project
# management.
_PRACTICES = {
    "analyze": "analysis",
    "analyse": "analysis",
    "integrate": "integration",
    "manage": "management",
    "plan": "planning",
    "collect": "collection",
    "visualize": "visualization",
    "coordinate": "coordination",
    "maintain": "maintenance",
    "evaluate": "evaluation",
    "schedule": "scheduling",
    "track": "tracking",
    "prepare": "preparation",
    "reconcile": "reconciliation",
    "administer": "administration",
    "forecast": "forecasting",
}


def _practices(clause: str) -> list[str]:
    """The practices named by a clause's verbs and their objects (see _PRACTICES): the verb
    (or verbs joined by "and"/"or") right before one or two words that close a phrase."""
    tokens = _TOKEN.findall(clause)
    found = []
    for index, token in enumerate(tokens):
        # (A verb's base form: "analyze data", not "data analyzed by".)
        practice = _PRACTICES.get(token.lower())
        if practice is None:
            continue
        nouns = []
        position = index + 1
        while position + 1 < len(tokens) and tokens[position].lower() in ("and", "or", ","):
            if tokens[position + 1].lower() not in _PRACTICES:
                break
            position += 2
        while position < len(tokens) and len(nouns) < 3 and not _is_breaker(tokens[position]):
            nouns.append(tokens[position])
            position += 1
        # (The object ends the phrase: "analyze data." or "analyze data and", not "maintain
        # accounting documents", whose "documents" only looks like a verb.)
        ends = position >= len(tokens) or (
            tokens[position].lower() in FUNCTION_WORDS or not tokens[position][:1].isalnum()
        )
        if 1 <= len(nouns) <= 2 and ends and nouns[-1][:1].islower():
            last = nouns[-1]
            if last.endswith("s") and not last.endswith("ss") and len(last) > 4:
                last = last[:-1]  # "manage projects": project management
            found.append(" ".join([*nouns[:-1], last, practice]))
    return found


# An abbreviation followed by one of these is a credential ("a Professional Engineer (PE)
# license"), kept as written.
_CREDENTIAL = re.compile(r"^\W*(?:licen[cs]e|certifi|credential|exam)", re.IGNORECASE)
_DEFINITION = re.compile(r"\((?P<short>[A-Z][A-Za-z]{1,9})\)")
_LONG_FORM_WORD = re.compile(r"[\w'’]+(?:-[\w'’]+)*|&")


@lru_cache(maxsize=32)
def abbreviations(document: str) -> dict[str, str]:
    """The abbreviations a description defines, each with its long form: "school-based health
    centers (SBHCs)", "Director of Finance (DF)". The long form is the shortest run of words
    before the brackets whose initials (hyphenated words by each part, function words aside)
    spell the abbreviation."""
    found: dict[str, str] = {}
    for match in _DEFINITION.finditer(document):
        short = match["short"]
        letters = short[:-1] if short.endswith("s") and short[:-1].isupper() else short
        before = list(
            _LONG_FORM_WORD.finditer(document[max(0, match.start() - 160) : match.start()])
        )
        for count in range(1, min(len(before), 2 * len(letters)) + 1):
            words = [m.group(0) for m in before[-count:]]
            initials = "".join(
                part[0]
                for word in words
                if word.lower() not in FUNCTION_WORDS and word != "&"
                for part in word.split("-")
                if part
            )
            if initials.lower() == letters.lower() and not _CREDENTIAL.search(
                document[match.end() : match.end() + 40]
            ):
                start = before[-count].start()
                offset = max(0, match.start() - 160)
                found[short] = document[offset + start : match.start()].strip()
                break
    return found


def _expanded(keyword: str, document: str) -> str | None:
    """A keyword the description abbreviates, as its long form; None when the long form is a
    role or the organisation (a local name, no skill)."""
    long_form = abbreviations(document).get(keyword) if document else None
    if long_form is None or canonical_name(keyword):
        return keyword
    words = long_form.lower().split()
    if any(w.rstrip("s") in _ROLE_WORDS or w in _ROLE_WORDS for w in words[:1] + words[-1:]):
        return None
    if _of_the_organisation(long_form, document):
        return None
    return long_form


def clause_keywords(clause: str, document: str = "") -> list[str]:
    """Every keyword of one requirement or duty clause, each once (case aside), in order:
    vocabulary terms by canonical name, then names, then noun phrases that hold neither.

    `document` is the whole description: a capitalised word it also writes in lower case is
    an ordinary word ("Marketing" in a heading), not a name."""
    clause = _SUPERVISED.sub(" , ", _ADDRESS.sub(" , ", clause))
    clause = _PLACE.sub(" , ", _TOWN_AND_STATE.sub(" , ", _POSSESSIVE.sub("", clause)))
    terms = find_terms(clause)
    keywords = [m.term.canonical for m in terms]
    # The clause without its vocabulary terms: a term breaks a phrase.
    rest, last = [], 0
    for match in terms:
        rest += [clause[last : match.start], " , "]
        last = match.end
    rest.append(clause[last:])
    remainder = "".join(rest)
    names = names_in(remainder)
    cut = remainder
    for name in names:
        cut = cut.replace(name, " , ")
    capitalised = [
        name
        for name in _capitalised(cut)
        if " " in name
        or not re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", document or clause)
    ]
    for name in capitalised:
        cut = cut.replace(name, " , ")
    names += capitalised
    keywords += names
    keywords += noun_phrases(cut)
    keywords += _competences(cut)
    keywords += _practices(cut)
    seen: dict[str, str] = {}
    for keyword in keywords:
        keyword = _expanded(keyword.strip(" ,;:-"), document) or ""
        if keyword and not _of_the_organisation(keyword, document):
            seen.setdefault(keyword.casefold(), keyword)
    return list(seen.values())
