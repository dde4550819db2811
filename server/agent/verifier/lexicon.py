"""The closed, reviewed word lists of the verifier.

Every word an engine writes must be found in the person's own material, unless it is one of
the words listed here. They carry no fact about the person: function words, connectives and
common action verbs that only rephrase. The list is closed on purpose: adding a word is a
review decision, because each one is a word that no source ever has to support.

Some action verbs do carry a fact: that the person led people, mentored them, hired them, or
that a figure went up or down. Those belong to a *class*, and such a word is accounted for only
when the material in scope has a word of the same class (its own wording: "spearheaded" for
"led", "cut" for "reduced"), next to the same object.

Other words may never be accounted for by a near spelling: role nouns, seniority words and
degree words must appear as written (a "manager" is not someone who "managed").
"""

from __future__ import annotations

from functools import cache

# Articles, determiners, pronouns, prepositions, conjunctions and auxiliaries.
FUNCTION_WORDS = frozenset(
    """
    a an the this that these those there here it its it's i me my mine we us our ours you
    your yours he him his she her hers they them their theirs who whom whose which what where
    when while whereas why how whether
    of in on at to for from with by as into onto over under across through throughout within
    via per about around between among amongst after before during since until till toward
    towards upon along alongside beyond behind near inside outside above below beside besides
    than like unlike despite including include includes included following
    and or but so yet both either also plus then thus therefore hence whereby wherein
    is are was were be been being am has have had having do does did done doing will would
    can could shall should may might must
    each other another such same own more very well just up out down off
    new key various e.g. i.e. etc
    """.split()
)

# Words about the resume itself that state nothing on their own.
RESUME_WORDS = frozenset(
    """
    experience experiences experienced role roles responsible responsibility
    responsibilities work works worked working skills part place professional
    """.split()
)
# Verb forms that join a phrase like a preposition ("using X", "resulting in"): neutral
# wherever they stand.
CONNECTIVES = frozenset(
    "using leveraging utilizing utilising resulting based focusing focused working involving "
    "including following".split()
)
AUXILIARIES = frozenset(
    "is are was were be been being am has have had do does did will would".split()
)


# Irregular past forms: a verb written in the past is used as a verb, not as a noun.
def is_past(word: str) -> bool:
    """Whether a word is a past form of a verb ("built", "migrated")."""
    lowered = word.lower()
    return lowered.endswith("ed") or lowered in _IRREGULAR_PAST


# When and how long: a word that puts a role in the past or the present, checked against the
# role's own dates.
PAST_WORDS = frozenset({"previously", "formerly", "former"})
PRESENT_WORDS = frozenset({"currently", "current", "now", "presently", "today"})

# Words a cover letter or an answer uses about the application itself (intent, thanks): they
# state nothing about the person's past. Accounted for in a letter's scope only.
LETTER_WORDS = frozenset(
    """
    excited eager keen glad happy interested interest apply applying application opportunity
    contribute contributing bring bringing discuss discussing consider considering thank
    thanks hope welcome look looking forward join joining position team company match
    matches fit posting asks ask needs need would love like believe chance value values
    based located
    """.split()
)

# Action verbs that rephrase without adding a fact: what was built is what the sentence's
# other words say, and those must be in scope.
_NEUTRAL_VERBS = """
achieve adapt add address adopt allow attend become carry connect cultivate demonstrate earn
find foster get give join keep meet obtain put reach receive send show showcase spend
study take turn analyze analyse apply architect assess assist automate build
collaborate communicate complete conduct configure consolidate contribute convert coordinate
create debug define deliver deploy design develop document draft enable
enhance ensure establish evaluate facilitate fix formulate handle help identify
implement improve integrate introduce investigate launch maintain make migrate
modernize modernise monitor optimize optimise organize organise participate partner
perform plan prepare present produce prototype provide publish rebuild redesign refactor
release replace report research resolve restructure review rewrite serve set ship simplify
solve standardize standardise streamline support test track translate troubleshoot update
upgrade use utilize utilise leverage validate verify write
"""

# Verbs (and their nouns) that state a fact, by class: accounted for only by a word of the
# same class in scope.
VERB_CLASSES: dict[str, str] = {
    "lead": """
        lead led leading leads leader leaders leadership manage managed manages managing
        management manager managers head headed heading heads direct directed directing
        directs director directors oversee oversaw overseen oversees overseeing supervise
        supervised supervises supervising supervisor supervisors spearhead spearheaded
        spearheading spearheads own owned owning owns owner owners ownership chair chaired
        chairing steer steered steering
    """,
    "operate": """
        run ran running runs operate operated operating operates execute executed executing
        executes drive drove driven driving drives
    """,
    "mentor": """
        mentor mentored mentoring mentors mentorship coach coached coaching coaches train
        trained training trains teach taught teaching teaches tutor tutored tutoring onboard
        onboarded onboarding
    """,
    "hire": """
        hire hired hires hiring recruit recruited recruiting recruits recruitment interview
        interviewed interviewing interviews
    """,
    "increase": """
        increase increased increases increasing grow grew grown growing grows growth raise
        raised raises raising boost boosted boosting boosts expand expanded expanding expands
        expansion accelerate accelerated accelerating accelerates maximize maximized
        maximizing maximise maximised gain gained gains lift lifted lifts scale scaled scales
        scaling double doubled doubling triple tripled tripling quadrupled rise rises rose
        risen rising
    """,
    "decrease": """
        reduce reduced reduces reducing reduction reductions cut cuts cutting decrease
        decreased decreases decreasing lower lowered lowering lowers lessen lessened trim
        trimmed trimming shorten shortened shortening shrink shrank shrunk shrinking slash
        slashed slashing minimize minimized minimizing minimise minimised halve halved halving
        drop dropped dropping curb curbed save saved saves saving savings fall fell fallen
        falling decline declined declining
    """,
    "eliminate": """
        eliminate eliminated eliminates eliminating elimination eradicate eradicated
        prevented zero
    """,
}

# Nouns among the class words: they show a class in the material, but they are not verbs
# that need an object.
CLASS_NOUNS = frozenset(
    """
    leader leaders leadership management manager managers director directors supervisor
    supervisors owner owners ownership mentorship recruitment growth expansion reduction
    reductions savings
    """.split()
)
# Class nouns that name other people ("trained 6 store managers"): a line with one shows that
# those people led, not that the person did, so it is no evidence of the class.
PEOPLE_NOUNS = frozenset("leaders managers directors supervisors owners".split())
# A class word followed by one of these words is part of a noun ("lead times", "managed
# services", "training data"): it states no action.
COMPOUNDS: dict[str, frozenset[str]] = {
    "lead": frozenset("time times generation gen scoring list lists qualification".split()),
    "managed": frozenset(
        "service services kubernetes database databases instance instances".split()
    ),
    "training": frozenset(
        "data set sets pipeline pipelines job jobs run runs material materials".split()
    ),
    "run": frozenset("time times rate book books".split()),
    "running": frozenset("time times costs cost".split()),
    "head": frozenset("count".split()),
    "drop": frozenset("down shipping".split()),
    "cut": frozenset("over".split()),
}

# Nouns naming a role; with a seniority word or a capital they make a title.
ROLE_NOUNS = frozenset(
    """
    engineer developer programmer architect scientist analyst designer manager administrator
    consultant specialist technician intern director officer researcher tester writer
    coordinator associate assistant nurse accountant teacher lead head president vp founder
    co-founder cto ceo cfo coo cio ciso supervisor representative rep executive clerk
    bookkeeper controller auditor recruiter strategist editor producer instructor professor
    lecturer physician therapist pharmacist paralegal attorney counsel electrician mechanic
    operator planner buyer agent advisor adviser partner principal fellow chef receptionist
    member
    """.split()
)
SENIORITY_WORDS = frozenset(
    """
    senior sr sr. junior jr jr. lead staff principal chief head distinguished vp executive
    associate assistant deputy entry-level mid-level
    """.split()
)

# Words that turn a degree into something less than the degree: a source line that has one
# supports the degree only when the sentence keeps it.
DEGREE_QUALIFIERS = frozenset(
    """
    candidate coursework expected pursuing incomplete abd minor exchange partial progress
    ongoing
    """.split()
)

# Irregular forms of the neutral verbs (the regular ones are generated).
_IRREGULAR = {
    "build": ("built",),
    "make": ("made",),
    "rebuild": ("rebuilt",),
    "rewrite": ("rewrote", "rewritten"),
    "write": ("wrote", "written"),
    "set": ("set",),
    "hold": ("held",),
    "take": ("took", "taken"),
    "find": ("found",),
    "spend": ("spent",),
    "become": ("became",),
    "send": ("sent",),
    "keep": ("kept",),
    "give": ("gave", "given"),
    "get": ("got", "gotten"),
    "put": ("put",),
    "meet": ("met",),
}
_IRREGULAR_PAST = frozenset(
    "built drove driven made rebuilt rewrote rewritten wrote written set held took taken found "
    "spent became sent kept gave given got gotten put met led ran taught grew grown rose risen "
    "cut fell fallen shrank shrunk oversaw overseen won".split()
)
_DOUBLED_FINAL = {"ship", "plan", "set", "put", "get"}


def _inflections(verb: str) -> set[str]:
    """A regular verb's forms: base, -s, -ed, -ing (with the usual spelling rules)."""
    forms = {verb, *(_IRREGULAR.get(verb) or ())}
    if verb.endswith("e"):
        forms |= {verb + "s", verb + "d", verb[:-1] + "ing"}
    elif verb.endswith("y") and verb[-2:-1] not in "aeiou":
        forms |= {verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"}
    elif verb.endswith(("s", "sh", "ch", "x", "z")):
        forms |= {verb + "es", verb + "ed", verb + "ing"}
    elif verb in _DOUBLED_FINAL:
        forms |= {verb + "s", verb + verb[-1] + "ed", verb + verb[-1] + "ing"}
    else:
        forms |= {verb + "s", verb + "ed", verb + "ing"}
    return forms


@cache
def neutral_words() -> frozenset[str]:
    """Every word that is accounted for by this list alone (lower case, as written)."""
    verbs = {form for verb in _NEUTRAL_VERBS.split() for form in _inflections(verb)}
    # "engineer" and "partner" are verbs too, but as nouns they name a role: never neutral.
    nouns = ROLE_NOUNS | {noun + "s" for noun in ROLE_NOUNS}
    return frozenset((FUNCTION_WORDS | RESUME_WORDS | verbs) - nouns)


@cache
def word_classes() -> dict[str, str]:
    """Word (lower case) -> its class, for the verbs and nouns that state a fact."""
    return {word: name for name, words in VERB_CLASSES.items() for word in words.split()}


# A class that a wider one covers: whoever led something also ran it.
COVERING_CLASSES = {"operate": frozenset({"lead"})}


def class_of(word: str, following: str = "") -> str | None:
    """The fact-bearing class of a word ("led" -> "lead"), or None; `following` is the next
    word, which may make it part of a noun ("lead times")."""
    lowered = word.lower()
    if following.lower() in COMPOUNDS.get(lowered, ()):
        return None
    return word_classes().get(lowered)


def evidence_class(word: str, following: str = "") -> str | None:
    """The class a word of the material shows the person acted in (`class_of`, less the
    nouns that name other people)."""
    return None if word.lower() in PEOPLE_NOUNS else class_of(word, following)


@cache
def verb_forms() -> frozenset[str]:
    """Every form of the verbs listed here (neutral and fact-bearing, nouns aside)."""
    verbs = {form for verb in _NEUTRAL_VERBS.split() for form in _inflections(verb)}
    classed = {w for w in word_classes() if w not in CLASS_NOUNS}
    nouns = ROLE_NOUNS | {noun + "s" for noun in ROLE_NOUNS}
    return frozenset((verbs | classed | AUXILIARIES) - nouns)


def is_verb(word: str) -> bool:
    """Whether the word is a form of a verb this list knows (or an auxiliary)."""
    return word.lower() in verb_forms()


# Neutral verbs whose -ing form names a skill or a field as often as an action ("testing",
# "financial reporting", "team building"): only free where a verb stands.
_NOUN_LIKE = frozenset(
    """
    test plan report monitor track write build troubleshoot debug prototype publish translate
    design document research review release support deploy integrate migrate automate optimize
    optimise analyze analyse produce develop present configure maintain model engineer
    """.split()
)


@cache
def free_gerunds() -> frozenset[str]:
    """The -ing forms of neutral verbs that only ever act ("allowing", "enabling")."""
    return frozenset(
        form
        for verb in _NEUTRAL_VERBS.split()
        if verb not in _NOUN_LIKE
        for form in _inflections(verb)
        if form.endswith("ing")
    )


def is_free(word: str) -> bool:
    """Whether the word carries no fact wherever it stands (a function word, a word about
    the resume itself, a connective)."""
    lowered = word.lower()
    return lowered in FUNCTION_WORDS or lowered in RESUME_WORDS or lowered in CONNECTIVES


def is_neutral(word: str) -> bool:
    """Whether the word carries no fact (a function word, a connective, a neutral verb)."""
    return word.lower() in neutral_words()


# Abbreviations and what they stand for, both ways: the material that spells one supports
# the other ("KPIs" and "key performance indicators"). Reviewed like the lists above.
ABBREVIATIONS: dict[str, str] = {
    "kpi": "key performance indicator",
    "kpis": "key performance indicators",
    "seo": "search engine optimization",
    "sem": "search engine marketing",
    "ml": "machine learning",
    "ai": "artificial intelligence",
    "bi": "business intelligence",
    "erp": "enterprise resource planning",
    "crm": "customer relationship management",
    "ocr": "optical character recognition",
    "roi": "return on investment",
    "ux": "user experience",
    "ui": "user interface",
    "qa": "quality assurance",
    "hr": "human resources",
    "api": "application programming interface",
    "apis": "application programming interfaces",
    "nlp": "natural language processing",
    "cv": "computer vision",
    "sla": "service level agreement",
    "slas": "service level agreements",
    "sre": "site reliability engineering",
    "ha": "high availability",
    "etl": "extract, transform, load",
    "elt": "extract, load, transform",
    "vba": "visual basic for applications",
    "sox": "sarbanes-oxley",
    "gaap": "generally accepted accounting principles",
    "ifrs": "international financial reporting standards",
    "p&l": "profit and loss",
    "fp&a": "financial planning and analysis",
    "ar": "accounts receivable",
    "ap": "accounts payable",
    "b2b": "business-to-business",
    "b2c": "business-to-consumer",
    "saas": "software as a service",
    "ehr": "electronic health record",
    "emr": "electronic medical record",
    "ppc": "pay-per-click",
    "cro": "conversion rate optimization",
    "ctr": "click-through rate",
    "gtm": "go-to-market",
    "okr": "objectives and key results",
    "okrs": "objectives and key results",
    "r&d": "research and development",
    "msa": "microservices architecture",
    "dns": "domain name system",
    "vpc": "virtual private cloud",
    "iac": "infrastructure as code",
    "ci": "continuous integration",
    "cd": "continuous delivery",
    "ceo": "chief executive officer",
    "cto": "chief technology officer",
    "cfo": "chief financial officer",
    "coo": "chief operating officer",
    "cio": "chief information officer",
    "vp": "vice president",
    "prof": "professor",
    "dept": "department",
    "mgmt": "management",
    "govt": "government",
    "univ": "university",
    "intl": "international",
}

# Makers whose name may stand before a product the material names ("Microsoft Excel" for
# "Excel"): a product's full name, not a claim about the person.
VENDORS = frozenset(
    "microsoft amazon aws google oracle hashicorp apache adobe atlassian ibm salesforce".split()
)
