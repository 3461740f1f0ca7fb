from feedback_bot.messaging.segments import sms_cost


def test_plain_text_is_gsm7_one_segment_up_to_160():
    assert sms_cost("a" * 160).segments == 1
    assert sms_cost("a" * 161).segments == 2
    assert sms_cost("a" * 306).segments == 2
    assert sms_cost("a" * 307).segments == 3
    assert sms_cost("Hello").encoding == "GSM-7"


def test_extension_characters_count_twice():
    cost = sms_cost("€" * 80)
    assert (cost.encoding, cost.units, cost.segments) == ("GSM-7", 160, 1)
    assert sms_cost("€" * 81).segments == 2


def test_other_scripts_are_ucs2():
    assert sms_cost("ż" * 70).segments == 1
    assert sms_cost("ż" * 71).segments == 2
    assert sms_cost("مرحبا").encoding == "UCS-2"
    emoji = sms_cost("👍" * 35)  # two UTF-16 code units each
    assert (emoji.units, emoji.segments) == (70, 1)
