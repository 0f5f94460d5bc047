#!/usr/bin/env python3
"""Write the small synthetic demo corpus used by iamm-pipe's demo and tests.

Outputs (relative to the repository root):
  demo/ed/{train,valid,test}.csv        EmpatheticDialogues-style CSVs
  demo/vectors/demo-vectors.16d.txt     16-d word vectors, GloVe text format
  demo/README.md                        description and counts

Everything here is ORIGINAL text written for this project from the templates
and word lists below; none of it is taken from EmpatheticDialogues. Only the
file layout follows the original ED release:

  conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags

one line per utterance, fields split on ',' with no CSV quoting, commas inside
text written as '_comma_', selfeval and tags empty.

The word vector file is a DEMO STAND-IN FOR GLOVE: deterministic random values
(no meaning at all) for about 80% of the distinct lowercase alphabetic words of
the corpus, so that the demo also exercises out-of-vocabulary handling.

Standard library only, deterministic (fixed seed): every run writes the same
bytes. Regenerate with:  python3 scripts/make_demo_corpus.py
"""

import os
import random
import re
import sys

SEED = 20240611
DIM = 16
VECTOR_FRACTION = 0.8
ALWAYS_IN_VOCAB = ["i", "the", "you", "a", "to", "and", "it", "my", "that",
                   "was", "is", "of", "so", "me", "for", "what", "did", "how"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_ED = os.path.join(ROOT, "demo", "ed")
OUT_VEC = os.path.join(ROOT, "demo", "vectors")

HEADER = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags"

EMOTIONS = [
    "surprised", "excited", "annoyed", "proud", "angry", "sad", "grateful",
    "lonely", "impressed", "afraid", "disgusted", "confident", "terrified",
    "hopeful", "anxious", "disappointed", "joyful", "prepared", "guilty",
    "furious", "nostalgic", "jealous", "anticipating", "embarrassed",
    "content", "devastated", "sentimental", "caring", "trusting", "ashamed",
    "apprehensive", "faithful",
]

POSITIVE = {
    "surprised", "excited", "proud", "grateful", "impressed", "confident",
    "hopeful", "joyful", "prepared", "nostalgic", "anticipating", "content",
    "sentimental", "caring", "trusting", "faithful",
}

# ---------------------------------------------------------------- slot fillers
PEOPLE = [
    "my sister", "my brother", "my best friend", "my roommate",
    "my neighbor Mr. Green", "my coworker Sam", "my mom", "my dad",
    "my cousin", "my grandmother", "my old friend from college", "my boss",
    "Mrs. Kim from next door", "my husband", "my wife", "my uncle",
]
TIMES = [
    "yesterday", "last week", "this morning", "last night", "on Saturday",
    "a few days ago", "two weeks ago", "last month", "over the weekend",
]
PLACES = [
    "the grocery store", "the office", "the park", "the airport", "the gym",
    "the mall", "the beach", "the train station", "the coffee shop",
]

# ------------------------------------------------------------ emotion content
# ev:    4 event phrases, each follows "I " (one per conversation of the emotion)
# sit:   situation (prompt) templates
# open:  speaker's first turn          resp:  listener's first turn
# more:  speaker's second turn         close: listener's second turn
# Slots: {ev} event, {t}/{T} time, {p}/{P} person, {pl} place.
# Emotions whose events are in the present tense use no {t} in sit/open.
# Commas are written normally here and become _comma_ on output.
E = {}

E["surprised"] = dict(
    ev=["came home to a surprise party that {p} had planned",
        "found $20 in the pocket of an old coat",
        "got a call from an old friend after 10 years of silence",
        "ran into my old teacher at {pl} out of nowhere"],
    sit=["I {ev} {t}. I did not see that coming at all.",
         "{T}, I {ev}. It was totally unexpected!",
         "I was just having a normal day when I {ev}."],
    open=["You won't believe this, but I {ev} {t}!",
          "So {t} I {ev}. I'm still kind of in shock.",
          "Guess what? I {ev}!"],
    resp=["Wow, really? How did you react?",
          "No way! That must have been such a shock. Were you happy about it?",
          "That's wild... What was going through your head?"],
    more=["I just stood there with my mouth open. All I could say was \"what?!\"",
          "I was totally speechless at first, but then I started laughing.",
          "Honestly, I'm still processing it. It's not every day that happens."],
    close=["Ha! I love surprises like that. It sounds like a great story to tell.",
           "That's amazing. Moments like that don't happen very often!",
           "I bet you'll remember that for a long time."],
)

E["excited"] = dict(
    ev=["got tickets to see my favorite band next month",
        "booked a trip to the U.S. for this summer",
        "got accepted into the program I applied to",
        "bought tickets for the big game on Friday"],
    sit=["I {ev}. I can hardly wait!",
         "{T} I {ev}, and I've been bouncing off the walls ever since.",
         "I {ev} {t}. I've wanted this for years."],
    open=["I'm SO excited! I {ev}!",
          "Guess what? I {ev}, and I can't stop smiling.",
          "I have great news... I {ev}!"],
    resp=["That's awesome! When does it happen?",
          "Oh wow, congratulations! Who are you going with?",
          "How exciting! What are you looking forward to the most?"],
    more=["I'm going with {p}. We've been planning it for ages.",
          "It's in about 3 weeks, and I'm counting down the days.",
          "Everything, honestly! I've already made a list of things to do."],
    close=["That sounds like so much fun. I hope it's everything you want it to be!",
           "You deserve it! Make sure to take lots of pictures.",
           "I'm excited for you! Let me know how it goes."],
)

E["annoyed"] = dict(
    ev=["sat next to someone chewing loudly for an hour",
        "got stuck behind a driver going 10 miles under the limit",
        "had my neighbor's dog bark all night",
        "waited 45 minutes on hold with the cable company"],
    sit=["I {ev} {t}. It drove me up the wall.",
         "{T}, I {ev}. Some people just don't think about others.",
         "I {ev} and it really got on my nerves."],
    open=["Ugh, I {ev} {t}.",
          "I'm so annoyed right now. I {ev}.",
          "Can I vent for a second? I {ev}."],
    resp=["Oh no, that sounds irritating. Did you say anything?",
          "Ugh, I hate that! How did you keep your cool?",
          "That would bug me too. Is it the first time it's happened?"],
    more=["I didn't say anything... I just put my headphones on.",
          "No, it's happened before, and it's starting to get old.",
          "I tried to be polite about it, but it didn't help at all."],
    close=["I'm sorry you had to deal with that. Hopefully tomorrow's better!",
           "That's so frustrating. Maybe next time you can bring it up calmly.",
           "Some people just don't get it. At least it's over now."],
)

E["proud"] = dict(
    ev=["finished my first half marathon",
        "graduated from nursing school",
        "got promoted to team lead",
        "watched my daughter win her school's spelling bee"],
    sit=["I {ev} {t}. All the hard work finally paid off.",
         "{T} I {ev}. I've never felt so good about myself.",
         "After years of effort, I {ev}."],
    open=["I {ev} {t}! I'm so proud.",
          "I have to tell someone... I {ev}!",
          "Guess what? I {ev}."],
    resp=["Congratulations! That's a huge accomplishment. How long did it take?",
          "That's amazing! You must be so proud. How are you celebrating?",
          "Wow, well done! What was the hardest part?"],
    more=["It took almost 2 years, but it was worth it. My coach just said \"told you so.\"",
          "We're going out to dinner with {p} tonight to celebrate.",
          "The hardest part was not giving up when it got tough."],
    close=["You should be proud. Not everyone sticks with something like that!",
           "That's wonderful. Enjoy the moment, you earned it.",
           "Good for you! I hope you keep it up."],
)

E["angry"] = dict(
    ev=["found out my landlord kept my $500 deposit for no reason",
        "got cut off in traffic and almost crashed",
        "had my bike stolen from outside {pl}",
        "got blamed at work for someone else's mistake"],
    sit=["I {ev} {t}. I was so mad.",
         "{T}, I {ev}. It made my blood boil.",
         "I {ev}. I still can't believe it."],
    open=["I'm really angry. I {ev}.",
          "I {ev} {t}, and I'm still fuming.",
          "You know what happened? I {ev}!"],
    resp=["That's terrible! What did you do next?",
          "I'd be angry too. Did you report it?",
          "Oh man, that's not fair at all. Have you been able to sort it out?"],
    more=["I called and complained, but they wouldn't even listen to me.",
          "Not yet. I'm going to try again on Monday.",
          "I yelled a bit, which I'm not proud of, but I was really upset."],
    close=["I hope it gets resolved soon. You don't deserve that.",
           "That's understandable. Anyone would be upset in your position.",
           "Don't let it ruin your week. Hopefully they make it right."],
)

E["sad"] = dict(
    ev=["had to say goodbye to my old dog",
        "found out my best friend is moving across the country",
        "lost my grandfather's watch",
        "saw my childhood home being torn down"],
    sit=["I {ev} {t}. I've been down ever since.",
         "{T} I {ev}. It's been hard to think about anything else.",
         "I {ev} and I can't shake this heavy feeling."],
    open=["I'm feeling pretty low. I {ev} {t}.",
          "I {ev}... it's been a rough week.",
          "Sorry if I'm quiet today. I {ev}."],
    resp=["I'm so sorry to hear that. Do you want to talk about it?",
          "That's really sad. How are you holding up?",
          "Oh no... that must be hard. Is there anything that's helping?"],
    more=["I'm okay, I guess. It still hasn't really sunk in.",
          "Talking to {p} has helped a little.",
          "Not really. I just need some time, I think."],
    close=["That's completely normal. Be gentle with yourself.",
           "I'm here if you need anything. It's okay to feel sad.",
           "Time really does help. I hope things feel lighter soon."],
)

E["grateful"] = dict(
    ev=["had {p} drive me to the hospital in the middle of the night",
        "got help from Mr. Ortiz down the street when my car broke down",
        "had my coworkers cover my shifts when I was sick",
        "received a thank-you card from a student I tutored"],
    sit=["I {ev} {t}. It really made my week.",
         "{T}, I {ev}. I'm so thankful.",
         "I {ev}. It reminded me how kind people can be."],
    open=["I'm feeling really grateful today. I {ev}.",
          "I {ev} {t}, and I can't thank them enough.",
          "Something nice happened: I {ev}."],
    resp=["That's so kind of them! Did you get to thank them?",
          "What a relief. It's nice to know people have your back, isn't it?",
          "That's really sweet. How did it make you feel?"],
    more=["I bought them a $20 gift card and wrote a little note.",
          "It made me feel lucky to have such good people around me.",
          "I did, but it doesn't feel like enough."],
    close=["I'm sure they appreciated it. Gratitude goes a long way.",
           "That's a great feeling. Hold on to people like that!",
           "It sounds like you have a great support system."],
)

E["lonely"] = dict(
    ev=["moved to a new city where I don't know anyone",
        "spent the holidays by myself",
        "ate dinner alone every night this week",
        "watched all my friends go off to college without me"],
    sit=["Since I {ev}, I've felt really isolated.",
         "I {ev}. It's been really quiet around here.",
         "I {ev}. The evenings are the hardest."],
    open=["I've been feeling lonely lately. I {ev}.",
          "I {ev}, and honestly, it's been tough.",
          "Do you ever feel like no one's around? I {ev}."],
    resp=["I'm sorry, that sounds really isolating. Have you been able to meet anyone?",
          "That's hard. Is there anyone you can call?",
          "I know that feeling. What do you usually do in the evenings?"],
    more=["I call {p} sometimes, but it's not the same.",
          "Not really. I'm not great at starting conversations.",
          "Mostly I just watch TV and go to bed early."],
    close=["Maybe you could try a club or a class? It's a good way to meet people.",
           "You're not alone in feeling this way. It does get better.",
           "I'm glad you told me. Let's talk more often, okay?"],
)

E["impressed"] = dict(
    ev=["watched {p} fix an old car engine in one afternoon",
        "saw a 10 year old solve a Rubik's cube in under a minute",
        "heard a street musician play violin at the train station",
        "saw my coworker give a whole presentation without any notes"],
    sit=["I {ev} {t}. I was blown away.",
         "{T}, I {ev}. The skill was unreal.",
         "I {ev}. I don't think I could ever do that."],
    open=["I was so impressed {t}. I {ev}.",
          "You'd never guess what I saw. I {ev}!",
          "I {ev}, and I'm still amazed."],
    resp=["Wow, that's incredible! How did they learn to do that?",
          "That's really impressive. Did you talk to them?",
          "No way! Was it as good as it sounds?"],
    more=["They said they practice about 10.5 hours a week.",
          "Yes, I asked how they did it and they just smiled.",
          "It was even better. People were stopping to watch."],
    close=["Some people are just so talented. That's inspiring!",
           "That must have been something to see.",
           "It's great when you see someone who's really mastered something."],
)

E["afraid"] = dict(
    ev=["heard footsteps at 2 a.m. outside my window",
        "got lost hiking after dark",
        "got stuck in a tiny MRI machine for 40 minutes",
        "saw a huge spider crawl across my bed"],
    sit=["I {ev} {t}. I was scared stiff.",
         "{T} I {ev}. My heart was pounding.",
         "I {ev}. I didn't know what to do."],
    open=["I was really scared {t}. I {ev}.",
          "I {ev}... I'm still shaking a little.",
          "Okay, this is embarrassing, but I {ev} and totally panicked."],
    resp=["Oh no, that sounds frightening! Are you okay now?",
          "That would scare me too. What did you do?",
          "Yikes! Did you call anyone?"],
    more=["I called {p} and stayed on the phone until I calmed down.",
          "I'm okay now, but I didn't sleep much.",
          "I just froze. I couldn't move for a minute."],
    close=["I'm glad you're safe. That's what matters.",
           "That's a normal reaction. Fear can really take over.",
           "Next time, don't hesitate to ask for help."],
)

E["disgusted"] = dict(
    ev=["found moldy food in the office fridge",
        "saw someone sneeze right on the salad bar at the buffet",
        "watched a man spit on the sidewalk right in front of me",
        "found a hair in my soup at a restaurant"],
    sit=["I {ev} {t}. It made my stomach turn.",
         "{T}, I {ev}. Gross.",
         "I {ev}. I almost lost my appetite for the whole day."],
    open=["Ew, I {ev} {t}.",
          "I {ev}. So gross!",
          "I have to tell you something gross. I {ev}."],
    resp=["Ew! That's disgusting. What did you do?",
          "Gross... did you say anything?",
          "Yuck! I would have been sick. Did anyone clean it up?"],
    more=["I told the manager and they just shrugged.",
          "I walked away and didn't go back.",
          "Nobody did anything, so I just left."],
    close=["Some people have no manners. I'd be grossed out too.",
           "That's nasty. I hope you never have to see that again.",
           "Ugh, I'm sorry. That would ruin my day."],
)

E["confident"] = dict(
    ev=["prepared for weeks for my job interview",
        "practiced my speech 20 times",
        "studied every chapter for my final exam",
        "trained all season for the big race"],
    sit=["I {ev}. I know I'm going to do great.",
         "{T} I {ev}, and now I feel ready for anything.",
         "I {ev}. I'm sure it'll go well."],
    open=["I'm feeling really good. I {ev}.",
          "I {ev}, so I'm not worried at all.",
          "I {ev}. I've got this!"],
    resp=["That's the spirit! When is it?",
          "Love that attitude. What makes you so sure?",
          "Nice! Preparation is everything. Are you nervous at all?"],
    more=["It's on Thursday at 9. I'm ready.",
          "I've done everything I can. The rest is up to me.",
          "Maybe a little, but mostly I feel calm."],
    close=["You'll do great. Confidence goes a long way!",
           "I believe in you. Let me know how it goes!",
           "With that much prep, I'm sure you'll nail it."],
)

E["terrified"] = dict(
    ev=["was in a car that skidded on the ice",
        "went through really bad turbulence on a flight",
        "woke up to the smoke alarm going off",
        "got stuck in an elevator for an hour"],
    sit=["I {ev} {t}. I thought I was going to die.",
         "{T} I {ev}. I've never been so scared.",
         "I {ev}. I was absolutely terrified."],
    open=["I {ev} {t}. I was terrified!",
          "The scariest thing happened. I {ev}.",
          "I'm still shaken up. I {ev}."],
    resp=["Oh my gosh! Were you hurt?",
          "That sounds horrifying. Is everyone okay?",
          "I can't even imagine. How did you get through it?"],
    more=["Everyone's fine, thank goodness, but I was shaking for hours.",
          "I just kept breathing and praying it would end.",
          "No one was hurt, but I don't want to go through that again."],
    close=["I'm so glad you're okay. That must have been awful.",
           "That's terrifying. Take it easy for a few days.",
           "What a nightmare. I'm relieved it turned out fine."],
)

E["hopeful"] = dict(
    ev=["applied for my dream job",
        "had a second interview with a company I love",
        "started a new treatment for my back pain",
        "sent my first novel to a publisher"],
    sit=["I {ev} {t}. I really hope it works out.",
         "{T} I {ev}. Fingers crossed!",
         "I {ev}. I've got a good feeling about it."],
    open=["I {ev} {t}. I'm feeling hopeful!",
          "Fingers crossed... I {ev}.",
          "I {ev}. I think this could be it."],
    resp=["That's great! When will you hear back?",
          "I hope it works out for you! How do you feel about your chances?",
          "Oh, that's exciting. What would it mean for you?"],
    more=["They said I should hear back in about 2 weeks.",
          "I think my chances are good, but I'm trying not to get my hopes up too much.",
          "It would change everything for me, honestly."],
    close=["I'll keep my fingers crossed for you, for sure!",
           "Stay positive. It sounds like you've done your part.",
           "I have a good feeling about it too. Good luck!"],
)

E["anxious"] = dict(
    ev=["have a big presentation at work on Monday",
        "am waiting on test results from Dr. Lee",
        "have to fly for the first time next week",
        "have my final exams coming up"],
    sit=["I {ev}. I can't stop worrying about it.",
         "I {ev}, and my stomach is in knots.",
         "I {ev}. I haven't been sleeping well."],
    open=["I'm so anxious right now. I {ev}.",
          "I {ev} and I can't stop thinking about it.",
          "Ugh, I {ev}. My nerves are shot."],
    resp=["That sounds stressful. What's worrying you the most?",
          "I'm sorry, waiting is the worst. Have you tried anything to calm down?",
          "That's understandable. Is there anything I can do?"],
    more=["I keep imagining everything that could go wrong.",
          "I tried some breathing exercises, and they help a little.",
          "Just talking about it helps, I think."],
    close=["Try to take it one step at a time. You'll get through it.",
           "It's normal to feel that way. I'm sure it'll be okay.",
           "I'm here for you. Let me know how it turns out."],
)

E["disappointed"] = dict(
    ev=["didn't get the job I interviewed for",
        "had my vacation cancelled at the last minute",
        "got a C on a paper I worked really hard on",
        "found out the concert I wanted to see was sold out"],
    sit=["I {ev} {t}. I really thought it would go my way.",
         "{T} I {ev}. It was such a letdown.",
         "I {ev}. I had my hopes up."],
    open=["I'm pretty bummed. I {ev}.",
          "I {ev} {t}... kind of a letdown.",
          "Well, I {ev}. Not my best week."],
    resp=["Aw, I'm sorry. That's really disappointing. Did they say why?",
          "That's a bummer. How are you feeling about it?",
          "Oh no! Is there any chance of another try?"],
    more=["They didn't give a reason, which makes it worse.",
          "I'm disappointed, but I'll get over it.",
          "Maybe next time. I'm trying to stay positive."],
    close=["Something better might come along. Don't give up!",
           "That's a healthy way to see it. Better luck next time.",
           "I'm sorry it didn't work out. You'll get the next one."],
)

E["joyful"] = dict(
    ev=["held my baby niece for the first time",
        "spent the whole day at the beach with my family",
        "found out my sister is getting married",
        "danced all night at my best friend's wedding"],
    sit=["I {ev} {t}. I couldn't stop smiling.",
         "I {ev} {t}. It was pure happiness.",
         "I {ev}. It was one of the best days ever."],
    open=["I'm so happy! I {ev} {t}.",
          "Today's a good day. I {ev}!",
          "I {ev}, and I'm still on cloud nine."],
    resp=["That's wonderful! What was the best part?",
          "Aww, that's so nice! How did it feel?",
          "I love that! Who else was there?"],
    more=["Everyone was laughing and having a good time.",
          "It felt like everything was right in the world.",
          "{P} was there too, which made it even better."],
    close=["That's so sweet. I'm really happy for you!",
           "Those are the moments that matter most.",
           "It sounds perfect. I hope you have many more days like that."],
)

E["prepared"] = dict(
    ev=["packed an emergency kit before the storm",
        "finished all my homework a week early",
        "cooked and froze meals for the entire week",
        "got all my tax paperwork done early"],
    sit=["I {ev}. I feel ready for whatever comes.",
         "{T} I {ev}, so I'm all set.",
         "I {ev}. It feels good to be ahead of things."],
    open=["I {ev}. I'm ready!",
          "I {ev} {t}. It's such a relief.",
          "I'm so organized this week. I {ev}."],
    resp=["That's smart! What made you decide to get ahead?",
          "Wow, good for you. I'm never that organized. How did you do it?",
          "That's great planning. Do you feel less stressed now?"],
    more=["Last year I waited until the last minute and it was a disaster.",
          "I just made a list and checked things off one by one.",
          "Much less stressed. I can finally relax."],
    close=["That's a great habit. I should try it!",
           "Being ready makes such a difference.",
           "Nice work. You've earned a break!"],
)

E["guilty"] = dict(
    ev=["forgot my mom's birthday",
        "ate the last slice of cake that my roommate was saving",
        "yelled at my little brother for no reason",
        "lied to {p} about why I missed their party"],
    sit=["I {ev} {t}. I feel awful about it.",
         "{T} I {ev}. I know it was wrong.",
         "I {ev}. I can't stop feeling bad."],
    open=["I feel so guilty. I {ev}.",
          "I {ev} {t}... I feel like a terrible person.",
          "I did something I'm not proud of. I {ev}."],
    resp=["Oh no. Have you apologized?",
          "Don't be so hard on yourself. Everyone makes mistakes. Did you talk to them?",
          "That happens. How do you think they feel about it?"],
    more=["I apologized, but I still feel bad.",
          "Not yet. I'm worried they'll be mad.",
          "I think they're hurt, and that's what bothers me."],
    close=["If you apologize sincerely, I'm sure they'll forgive you.",
           "The fact that you feel bad shows you care.",
           "Maybe do something nice to make it up to them."],
)

E["furious"] = dict(
    ev=["found out my roommate had been using my credit card",
        "had my car towed even though I parked legally",
        "caught a mechanic charging me $400 for repairs he never did",
        "got a $150 ticket for something I didn't do"],
    sit=["I {ev} {t}. I was livid.",
         "{T} I {ev}. I've never been so mad.",
         "I {ev}. I'm absolutely furious."],
    open=["I'm FURIOUS. I {ev}!",
          "I {ev} {t}, and I'm seeing red.",
          "Can you believe this? I {ev}."],
    resp=["What?! That's outrageous. What are you going to do?",
          "Oh, I'd be furious too. Did you confront them?",
          "That's unbelievable. Can you get your money back?"],
    more=["I'm going to fight it. I have proof.",
          "I confronted them, and they didn't even apologize!",
          "I called my bank and they're looking into it."],
    close=["Good. Don't let them get away with it!",
           "I hope you get it sorted out. That's so wrong.",
           "You have every right to be angry. Keep pushing."],
)

E["nostalgic"] = dict(
    ev=["found my old yearbook in the attic",
        "drove past my elementary school",
        "heard a song that was popular when I was a kid",
        "looked through old photos with {p}"],
    sit=["I {ev} {t}. It brought back so many memories.",
         "{T} I {ev} and it took me right back.",
         "I {ev}. I miss those days."],
    open=["I {ev} {t}. It made me so nostalgic.",
          "I {ev}... those were the good old days.",
          "Ah, I {ev}, and it took me back."],
    resp=["Oh, that's nice. What memories came back?",
          "I love that feeling. Do you miss those days?",
          "That's sweet. Were they happy times?"],
    more=["I remembered summers riding bikes with my friends until dark.",
          "I do. Life was so simple back then.",
          "Mostly happy. It's funny what you remember."],
    close=["Those memories are precious. It's nice to revisit them.",
           "It's amazing how a small thing can take you back.",
           "Thanks for sharing that. It made me think of my own childhood."],
)

E["jealous"] = dict(
    ev=["saw my coworker get the promotion I wanted",
        "found out my friend got a brand new car",
        "saw {p} post pictures from a trip to Hawaii",
        "watched my brother get all the attention at dinner"],
    sit=["I {ev} {t}. I couldn't help feeling jealous.",
         "{T} I {ev}. I know I shouldn't be envious, but I am.",
         "I {ev}. Why can't that be me?"],
    open=["I'm a little jealous. I {ev}.",
          "I {ev} {t}, and I'm kind of green with envy.",
          "Okay, I'll admit it. I {ev} and I'm jealous."],
    resp=["That's a natural feeling. Are you happy for them too?",
          "I get it. Do you think you'll get your chance?",
          "It's okay to feel that way. What would you want for yourself?"],
    more=["I am happy for them, but it stings a little.",
          "Maybe someday. I just have to keep working.",
          "I just want to feel like I'm getting somewhere."],
    close=["Your time will come. Don't compare yourself too much.",
           "It's human. Just don't let it eat at you.",
           "You're doing better than you think!"],
)

E["anticipating"] = dict(
    ev=["have been waiting for the new season of my favorite show",
        "am waiting for my sister to have her baby",
        "have a concert coming up next Friday",
        "am about to start my new job"],
    sit=["I {ev}. I can't wait!",
         "I {ev}. It's all I can think about.",
         "I {ev}, and the countdown is on."],
    open=["I {ev}. It feels like forever!",
          "I'm counting down the days. I {ev}.",
          "I {ev}, and I'm so impatient."],
    resp=["How exciting! How long do you have to wait?",
          "Ooh, the waiting is the worst part. What are you doing to pass the time?",
          "That sounds like something to look forward to! Are you ready?"],
    more=["Only about 5 more days now.",
          "I've been keeping busy with work and the gym.",
          "As ready as I'll ever be!"],
    close=["It'll be here before you know it!",
           "Enjoy the anticipation. It's half the fun.",
           "I hope it turns out to be worth all that waiting!"],
)

E["embarrassed"] = dict(
    ev=["tripped and fell in front of my whole class",
        "called my teacher \"mom\" by accident",
        "sent a text about my boss to my boss",
        "walked out of the restroom with toilet paper stuck to my shoe"],
    sit=["I {ev} {t}. I wanted to disappear.",
         "{T} I {ev}. My face turned bright red.",
         "I {ev}. I'll never live it down."],
    open=["Oh man, I {ev} {t}.",
          "So embarrassing... I {ev}.",
          "I can't believe it. I {ev}!"],
    resp=["Oh no! What did everyone do?",
          "Haha, I'm sorry, that's rough. Did anyone notice?",
          "That's so embarrassing! How did you recover?"],
    more=["Everyone laughed, and I just laughed along.",
          "Everyone noticed. I wanted to crawl under a rock.",
          "I just pretended it didn't happen."],
    close=["Don't worry, people forget those things fast.",
           "We've all been there. It'll be a funny story someday.",
           "Honestly, laughing it off was the best thing you could do."],
)

E["content"] = dict(
    ev=["spent a quiet Sunday reading on the porch",
        "finally paid off my student loans",
        "settled into my new apartment",
        "had a simple dinner at home with {p}"],
    sit=["I {ev} {t}. Life feels pretty good right now.",
         "{T} I {ev}. I don't need anything more.",
         "I {ev}. I feel at peace."],
    open=["I {ev} {t}. I'm really content.",
          "Life's good. I {ev}.",
          "I {ev}, and I'm just happy with where things are."],
    resp=["That sounds lovely. What's been making you feel that way?",
          "That's great to hear. It's nice to feel settled, isn't it?",
          "Good for you! Do you feel like you've earned it?"],
    more=["I think I've finally stopped worrying about the small stuff.",
          "It really is. I didn't realize how much I needed it.",
          "I do. It took a while to get here."],
    close=["That's the best feeling. Enjoy it!",
           "I'm really happy for you. You deserve some peace.",
           "Sounds like you've found a good balance."],
)

E["devastated"] = dict(
    ev=["lost my job after 12 years",
        "found out my dog has cancer",
        "lost my grandmother",
        "watched our house flood during the storm"],
    sit=["I {ev} {t}. I don't know how to move forward.",
         "{T} I {ev}. My whole world fell apart.",
         "I {ev}. I'm completely heartbroken."],
    open=["I'm devastated. I {ev}.",
          "I {ev} {t}. I can't stop crying.",
          "I don't even know how to say this... I {ev}."],
    resp=["I'm so, so sorry. That's heartbreaking. Do you have people around you?",
          "Oh no... I can't imagine how hard that is. How are you coping?",
          "That's terrible. Please take care of yourself. Is there anything I can do?"],
    more=["My family has been with me, which helps a little.",
          "I'm not coping very well, honestly.",
          "Just listening helps. Thank you."],
    close=["Take all the time you need. I'm here for you.",
           "There's no right way to grieve. Be kind to yourself.",
           "I'm sending you a big hug. Please reach out anytime."],
)

E["sentimental"] = dict(
    ev=["found an old letter from my dad in a drawer",
        "watched the video of my son's first day of school",
        "found the ticket stub from our first date",
        "went through my grandma's recipe box"],
    sit=["I {ev} {t}. It made me tear up.",
         "{T} I {ev}. It meant so much to me.",
         "I {ev}. Some things are worth holding on to."],
    open=["I {ev} {t}. I got all teary.",
          "I'm feeling sentimental. I {ev}.",
          "I {ev}... it made me miss the old times."],
    resp=["Aww, that's so sweet. What was it like?",
          "That's special. Are you going to keep it somewhere safe?",
          "Those little things mean so much, don't they?"],
    more=["It's such a small thing, but it means the world to me.",
          "I'm going to put it in a frame on my desk.",
          "They really do. I'm glad I found it."],
    close=["That's beautiful. Treasure it.",
           "What a lovely thing to have. It's a piece of your history.",
           "I love that you still have it."],
)

E["caring"] = dict(
    ev=["made soup for my sick neighbor",
        "took care of my friend's kids while she was in the hospital",
        "drove my grandfather to his appointments with Dr. Smith",
        "stayed up all night with my sick puppy"],
    sit=["I {ev} {t}. I just wanted to help.",
         "{T} I {ev}. It felt good to be there for them.",
         "I {ev}. That's what you do for the people you love."],
    open=["I {ev} {t}.",
          "I spent a lot of time helping out. I {ev}.",
          "I {ev}. It was tiring, but worth it."],
    resp=["That's really kind of you. How are they doing now?",
          "You're a good person. Did they appreciate it?",
          "That's so thoughtful! Are you getting any rest yourself?"],
    more=["They're doing much better, thank goodness.",
          "They were really grateful, which made it all worth it.",
          "Not much, but I'll catch up on sleep later."],
    close=["The world needs more people like you.",
           "They're lucky to have you around.",
           "Just don't forget to take care of yourself too!"],
)

E["trusting"] = dict(
    ev=["let my teenage son take the car out alone",
        "gave my house keys to my new neighbor",
        "lent {p} $300 without a second thought",
        "let a coworker handle my biggest client"],
    sit=["I {ev} {t}. I know they won't let me down.",
         "{T} I {ev}. I really trust them.",
         "I {ev}. It's a big step, but I believe in them."],
    open=["I {ev} {t}. I trust them completely.",
          "I took a leap of faith: I {ev}.",
          "I {ev}. I hope I made the right call."],
    resp=["That takes a lot of trust! How did it go?",
          "Wow, that's a big step. What made you decide to do it?",
          "That's great that you have someone you can rely on. Were you nervous?"],
    more=["It went perfectly. They didn't let me down.",
          "They've always been reliable, so I wasn't worried.",
          "A little, but I knew it would be fine."],
    close=["Trust is such an important thing to have.",
           "It's nice when people live up to your trust.",
           "Sounds like you made the right call."],
)

E["ashamed"] = dict(
    ev=["snapped at a cashier who was just doing her job",
        "got caught copying answers on a quiz",
        "forgot to pick up my son from practice",
        "lost my temper in front of my kids"],
    sit=["I {ev} {t}. I'm really ashamed of myself.",
         "{T} I {ev}. I feel so small.",
         "I {ev}. I wish I could take it back."],
    open=["I'm ashamed to admit it, but I {ev}.",
          "I {ev} {t}. I'm not proud of it.",
          "I {ev}. I can't believe I did that."],
    resp=["We all have moments like that. Did you apologize?",
          "It's good that you recognize it. What happened?",
          "That's rough, but you're being honest about it. How do you feel now?"],
    more=["I was tired and stressed, but that's no excuse.",
          "I apologized, but I still feel terrible.",
          "I feel awful, honestly. I know better."],
    close=["Learning from it is what matters. Don't beat yourself up.",
           "Everyone slips up sometimes. You'll do better next time.",
           "Owning up to it says a lot about you."],
)

E["apprehensive"] = dict(
    ev=["am starting a new job on Monday",
        "have to meet my partner's parents this weekend",
        "am moving to a new state next month",
        "have to get surgery on my knee"],
    sit=["I {ev}. I'm not sure what to expect.",
         "I {ev}, and I'm a bit uneasy about it.",
         "I {ev}. I keep going back and forth about it."],
    open=["I {ev}. I'm a little nervous.",
          "I {ev}, and I have mixed feelings.",
          "So... I {ev}. I'm kind of uneasy."],
    resp=["That's a big change! What's worrying you?",
          "It's normal to be nervous. Is there anything you're looking forward to?",
          "I understand. Have you done anything like it before?"],
    more=["I'm worried I won't fit in.",
          "I'm looking forward to a fresh start, at least.",
          "Not really, that's what makes it scary."],
    close=["Give it some time. I'm sure it'll be fine.",
           "New things are always a bit scary at first.",
           "You'll handle it well. Just take it one day at a time."],
)

E["faithful"] = dict(
    ev=["have been going to the same church for 20 years",
        "stayed loyal to my team even through a 10 game losing streak",
        "kept my promise to visit my grandma every Sunday",
        "stuck by my best friend through his hardest year"],
    sit=["I {ev}. I believe in sticking with the people and things I care about.",
         "I {ev}. Loyalty means a lot to me.",
         "I {ev}, and I'd do it again."],
    open=["I {ev}. That's just who I am.",
          "You know me... I {ev}.",
          "I {ev}. I don't give up on things easily."],
    resp=["That's real dedication. What keeps you going?",
          "Wow, that's loyal! Was it ever hard?",
          "I admire that. Not many people stick with things like that."],
    more=["It's about faith, I think. You don't quit when it gets hard.",
          "Sometimes, but it's always been worth it.",
          "Thank you. It's just how I was raised."],
    close=["That's a great quality to have.",
           "Loyalty like that is rare these days.",
           "They're lucky to have you in their corner."],
)

# Turns 5 (speaker) and 6 (listener): generic, paired so they fit together.
EXTRA_POS = [
    ("Thanks for listening! It's nice to share good news.",
     "Anytime! I love hearing stuff like this."),
    ("Yeah, I feel really lucky. I'll tell you more about it later.",
     "Please do, I want to hear everything!"),
    ("Thanks! Anyway, enough about me. How was your week?",
     "Mine was pretty quiet, but yours sounds way more fun!"),
    ("I hope so too. I'll keep you posted.",
     "Sounds good. Enjoy it!"),
]
EXTRA_NEG = [
    ("Thanks for listening. It helps to talk about it.",
     "Of course. That's what friends are for."),
    ("I know, I know. I just needed to get it off my chest.",
     "Anytime. Don't hesitate to call me if you need to talk."),
    ("You're right. I'll try not to dwell on it too much.",
     "Good idea. Hang in there, okay?"),
    ("Thanks... I really appreciate you being here.",
     "I'm always here. Take care of yourself."),
]

# Conversation lengths per split: mostly 4, some 2, 3, 5, 6.
LENGTHS = {
    "train": {2: 6, 3: 6, 4: 32, 5: 10, 6: 10},
    "valid": {2: 3, 3: 3, 4: 16, 5: 5, 6: 5},
    "test": {2: 3, 3: 3, 4: 16, 5: 5, 6: 5},
}
# Which of the 4 events of an emotion each split uses.
SPLIT_EVENTS = {"train": [0, 1], "valid": [2], "test": [3]}
# Demo numbering of conversation ids (hit:<n>_conv:<m>), far from ED's range.
HIT_BASE = {"train": 7000, "valid": 7100, "test": 7200}
CONV_BASE = {"train": 70000, "valid": 71000, "test": 72000}


def cap(s):
    return s[:1].upper() + s[1:]


def fill(template, slots):
    return template.format(**slots)


def escape(text):
    out = text.replace(",", "_comma_")
    assert "\n" not in out and "\r" not in out, out
    assert out.isascii(), out
    return out


def make_conversation(rng, emotion, event_idx, length):
    d = E[emotion]
    p = rng.choice(PEOPLE)
    t = rng.choice(TIMES)
    slots = {"p": p, "P": cap(p), "t": t, "T": cap(t), "pl": rng.choice(PLACES)}
    slots["ev"] = fill(d["ev"][event_idx], slots)
    prompt = fill(d["sit"][event_idx % len(d["sit"])], slots)
    extra = rng.choice(EXTRA_POS if emotion in POSITIVE else EXTRA_NEG)
    turns = [
        fill(rng.choice(d["open"]), slots),
        fill(rng.choice(d["resp"]), slots),
        fill(rng.choice(d["more"]), slots),
        fill(rng.choice(d["close"]), slots),
        extra[0],
        extra[1],
    ][:length]
    # A few utterances carry stray leading/trailing spaces, like raw ED.
    padded = []
    for u in turns:
        r = rng.random()
        if r < 0.02:
            u = " " + u
        elif r < 0.04:
            u = u + " "
        padded.append(u)
    return prompt, padded


def build_split(rng, split):
    lengths = []
    for n, count in sorted(LENGTHS[split].items()):
        lengths += [n] * count
    rng.shuffle(lengths)
    convs = [(emo, ev) for emo in EMOTIONS for ev in SPLIT_EVENTS[split]]
    rng.shuffle(convs)
    assert len(convs) == len(lengths)
    lines = [HEADER + "\n"]
    for k, ((emo, ev), n) in enumerate(zip(convs, lengths)):
        conv_id = "hit:%d_conv:%d" % (HIT_BASE[split] + k // 2, CONV_BASE[split] + k)
        speakers = rng.sample(range(1, 120), 2)
        prompt, turns = make_conversation(rng, emo, ev, n)
        for i, u in enumerate(turns):
            fields = [conv_id, str(i + 1), emo, escape(prompt),
                      str(speakers[i % 2]), escape(u), "", ""]
            lines.append(",".join(fields) + "\n")
    return lines


def check_split(split, lines):
    assert lines[0] == HEADER + "\n"
    convs = {}
    order = []
    for ln in lines[1:]:
        assert ln.endswith("\n")
        f = ln[:-1].split(",")
        assert len(f) == 8, ln
        assert f[6] == "" and f[7] == "", ln
        cid, idx, emo, prompt, spk, utt = f[:6]
        assert re.fullmatch(r"hit:\d+_conv:\d+", cid), cid
        assert emo in EMOTIONS, emo
        assert spk.isdigit() and utt.strip(), ln
        if cid not in convs:
            convs[cid] = []
            order.append(cid)
        else:
            assert order[-1] == cid, "conversation not contiguous: " + cid
        convs[cid].append((int(idx), emo, prompt, spk))
    examples = 0
    for cid, rows in convs.items():
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), cid
        assert len({r[1] for r in rows}) == 1 and len({r[2] for r in rows}) == 1, cid
        spk = [r[3] for r in rows]
        assert len(set(spk)) == min(2, len(rows)), cid
        assert all(spk[i] != spk[i + 1] for i in range(len(spk) - 1)), cid
        examples += sum(1 for r in rows if r[0] % 2 == 0)
    emos = {rows[0][1] for rows in convs.values()}
    assert emos == set(EMOTIONS), split
    return {"conversations": len(convs), "lines": len(lines) - 1, "examples": examples}


def corpus_words(all_lines):
    freq = {}
    for lines in all_lines:
        for ln in lines[1:]:
            f = ln[:-1].split(",")
            text = " ".join([f[2], f[3], f[5]]).replace("_comma_", ",")
            for w in re.split(r"[^a-z]+", text.lower()):
                if w:
                    freq[w] = freq.get(w, 0) + 1
    return freq


def write_vectors(rng, freq):
    words = sorted(freq)
    keep = set(w for w in ALWAYS_IN_VOCAB if w in freq)
    rest = [w for w in words if w not in keep]
    rng.shuffle(rest)
    n_keep = round(VECTOR_FRACTION * len(words))
    keep.update(rest[: max(0, n_keep - len(keep))])
    ordered = sorted(keep, key=lambda w: (-freq[w], w))  # GloVe-like: frequent first
    out = []
    for w in ordered:
        vals = ["%.6f" % (round(rng.gauss(0.0, 0.4), 6) + 0.0) for _ in range(DIM)]
        out.append(w + " " + " ".join(vals) + "\n")
    os.makedirs(OUT_VEC, exist_ok=True)
    with open(os.path.join(OUT_VEC, "demo-vectors.%dd.txt" % DIM), "w",
              encoding="ascii", newline="") as fh:
        fh.writelines(out)
    return len(ordered), len(words)


README = """\
# Demo data (synthetic)

Small files for demos, smoke tests and CI of iamm-pipe. Everything here is
**synthetic text written for this project** from templates and word lists in
`scripts/make_demo_corpus.py`; it contains no EmpatheticDialogues text and no
real word vectors.

| path | what |
|---|---|
| `ed/{{train,valid,test}}.csv` | dialogues in the original ED release layout: header `conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags`, one line per utterance, no CSV quoting (split on `,`), commas in text written `_comma_`, `selfeval`/`tags` empty. `context` is one of the 32 ED emotions, `prompt` the situation. |
| `vectors/demo-vectors.{dim}d.txt` | stand-in for GloVe: {dim}-d vectors in GloVe text format (`word v1 ... v{dim}`), deterministic random values, for {nvec} of the {nwords} distinct lowercase alphabetic corpus words (~80%, so out-of-vocabulary words occur). |

Regenerate (deterministic, same bytes every run):

    python3 scripts/make_demo_corpus.py

Counts (examples = listener turns, i.e. utterances with an even `utterance_idx`):

| split | conversations | lines (utterances) | examples | emotions |
|---|---|---|---|---|
{rows}
| total | {tc} | {tl} | {te} | 32 |

Train has 2 conversations per emotion, valid and test 1 each; conversations have
2 to 6 utterances (mostly 4). The text deliberately exercises the tokenizer:
`_comma_`, contractions, `?`, `!`, `...`, numbers such as `10.5` and `$20`,
abbreviations (`Dr.`, `Mr.`, `U.S.`, `a.m.`), double quotes, mixed case, and a
few utterances with leading or trailing spaces.
"""


def main():
    rng = random.Random(SEED)
    os.makedirs(OUT_ED, exist_ok=True)
    all_lines = []
    stats = {}
    for split in ("train", "valid", "test"):
        lines = build_split(rng, split)
        stats[split] = check_split(split, lines)
        with open(os.path.join(OUT_ED, split + ".csv"), "w", encoding="ascii",
                  newline="") as fh:
            fh.writelines(lines)
        all_lines.append(lines)
    nvec, nwords = write_vectors(random.Random(SEED + 1), corpus_words(all_lines))
    rows = "\n".join(
        "| %s | %d | %d | %d | 32 |" % (s, st["conversations"], st["lines"], st["examples"])
        for s, st in stats.items())
    readme = README.format(
        dim=DIM, nvec=nvec, nwords=nwords, rows=rows,
        tc=sum(s["conversations"] for s in stats.values()),
        tl=sum(s["lines"] for s in stats.values()),
        te=sum(s["examples"] for s in stats.values()))
    with open(os.path.join(ROOT, "demo", "README.md"), "w", encoding="ascii",
              newline="") as fh:
        fh.write(readme)
    for s, st in stats.items():
        print("%-5s conversations=%d lines=%d examples=%d"
              % (s, st["conversations"], st["lines"], st["examples"]))
    print("vectors: %d of %d distinct words" % (nvec, nwords))
    return 0


if __name__ == "__main__":
    sys.exit(main())
