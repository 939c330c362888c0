// `taskdeck run`: the real binary, on real script files, without a display (SPEC 5).
#include "testsupport.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#include <memory>

namespace {

using Run = ProgramRun;

// The environment of a machine with no display at all.
QProcessEnvironment headlessEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DISPLAY"));
    env.remove(QStringLiteral("WAYLAND_DISPLAY"));
    env.remove(QStringLiteral("QT_QPA_PLATFORM"));
    return env;
}

// A script that appends "start NAME" and, after a short sleep, "end NAME" to `out`.
QByteArray markerScript(const QString &out, const QByteArray &directives)
{
    return directives +
           "local function mark(what)\n"
           "  local f = assert(io.open(\"" +
           out.toUtf8() +
           "\", \"a\"))\n"
           "  f:write(what, \" \", task.name, \"\\n\")\n"
           "  f:close()\n"
           "end\n"
           "mark(\"start\")\n"
           "sleep(0.2)\n"
           "mark(\"end\")\n";
}

const QRegularExpression &isoTime()
{
    static const QRegularExpression re(
        QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$"));
    return re;
}

QByteArray compact(const QJsonValue &value)
{
    return QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact);
}

const QByteArray hostileScript = "-- @name \x1b]0;owned\x07\x1b[2Jevil\xc2\x9b"
                                 "31m\n"
                                 "print('\\27[2J\\rlog\\8hidden')\n"
                                 "error('\\27[31mred\\r\\27[Kgone\\194\\155x', 0)\n";

// True when `bytes` hold no control character a terminal obeys (but newlines and tabs).
bool terminalSafe(const QByteArray &bytes)
{
    const QString text = QString::fromUtf8(bytes);
    for (QChar c : text)
        if ((c.unicode() < 0x20 && c != u'\n' && c != u'\t') ||
            (c.unicode() >= 0x7f && c.unicode() <= 0x9f))
            return false;
    return true;
}

} // namespace

class tst_Cli : public QObject
{
    Q_OBJECT

private:
    // Runs `taskdeck args...` in `workDir` and waits for it to end.
    Run run(const QStringList &args, const QString &workDir = QDir::tempPath()) const;
    // The JSON objects of a --json run's stdout; fails the test on a line that is not one.
    QList<QJsonObject> jsonLines(const Run &run) const;
    // The one object named `name`.
    static QJsonObject byName(const QList<QJsonObject> &tasks, const QString &name);

    QString m_bin;

private slots:
    void initTestCase();

    void jsonPrintsOneObjectPerTaskWithEveryKey();
    void jsonResultIsTheScriptsReturnValues_data();
    void jsonResultIsTheScriptsReturnValues();
    void failedTaskHasFileLineErrorAndStackInnermostFirst();
    void timeoutStopsASleepingTaskAndShowsWhatItAwaited();
    void exitIsZeroWhenAllSucceedAndOneWhenOneFails();
    void rejectedFileExitsOneWhileOthersStillRun();
    void onlyRejectedFilesExitOneWithNothingOnStdout();
    void usageErrorExitsTwoAndRunsNothing_data();
    void usageErrorExitsTwoAndRunsNothing();
    void repeatSubmitsEachFileNTimes();
    void argReachesTaskArgsAndOverridesScriptArg_data();
    void argReachesTaskArgsAndOverridesScriptArg();
    void maxConcurrencyOneRunsOneAtATimeInPriorityOrder();
    void priorityOptionOverridesDirective();
    void controlCharactersOfATaskAreShownNotObeyed();
    void attachedJValueIsAcceptedLikeMake();
    void groupLimitKeepsTasksOfThatGroupApart();
    void helpAndVersionExitZero_data();
    void helpAndVersionExitZero();
    void humanOutputHasOneLinePerTaskNamingItsState();
    void humanOutputLabelsEveryCopyWithItsIdAndScript();
    void runLeavesNoProcessOfItsTasksBehind();
    void noProgressLineWhenStderrIsNotATerminal();
    void humanOutputShowsATimedOutProcessAndWhatItWasDoing();
    void runExpandsAFolderToItsScriptsInNameOrder();
    void submitAndHandOverExpandAFolderAsTheWindowDoes();
    void chainRunsTheFilesOneAfterAnotherWhateverTheLimit();
    void chainStopsAtAFailureAndCancelsTheRestNamingIt();
    void afterAnUnknownTaskIsRefusedAndRunsNothing();
    void submitAfterWaitsForTheTaskAndRefusesAnUnknownOne();
};

void tst_Cli::initTestCase()
{
    m_bin = qEnvironmentVariable("TASKDECK_BIN");
    if (m_bin.isEmpty()) // run by hand from the build tree
        m_bin = QCoreApplication::applicationDirPath() + QStringLiteral("/../taskdeck");
    QVERIFY2(QFileInfo(m_bin).isExecutable(), qPrintable(m_bin + " is not built"));
}

Run tst_Cli::run(const QStringList &args, const QString &workDir) const
{
    return runProgram(m_bin, args, headlessEnvironment(), workDir, 30000);
}

QList<QJsonObject> tst_Cli::jsonLines(const Run &run) const
{
    QList<QJsonObject> objects;
    for (const QString &line : run.outLines()) {
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(line.toUtf8(), &error);
        if (error.error != QJsonParseError::NoError || !doc.isObject()) {
            QTest::qFail(qPrintable(QStringLiteral("not a JSON object: %1").arg(line)), __FILE__,
                         __LINE__);
            return {};
        }
        objects.append(doc.object());
    }
    return objects;
}

QJsonObject tst_Cli::byName(const QList<QJsonObject> &tasks, const QString &name)
{
    QJsonObject found;
    for (const QJsonObject &task : tasks)
        if (task.value(QStringLiteral("name")).toString() == name) {
            if (!found.isEmpty())
                return {}; // two of that name
            found = task;
        }
    return found;
}

void tst_Cli::jsonPrintsOneObjectPerTaskWithEveryKey()
{
    ScriptDir dir;
    dir.write(QStringLiteral("one.lua"), "return 1\n");
    dir.write(QStringLiteral("two.lua"), "-- @name second\nsleep(0.02)\nreturn 'x'\n");
    // Relative paths on the command line: the JSON still has absolute ones.
    const Run r = run({"run", "--json", "one.lua", "two.lua"}, dir.path());
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 2);

    QStringList keys{"id",    "name",     "file",       "state",       "result",     "error",
                     "stack", "attempts", "started_at", "finished_at", "duration_s", "after"};
    keys.sort();
    const QHash<QString, QString> files{{"one.lua", QDir(dir.path()).absoluteFilePath("one.lua")},
                                        {"second", QDir(dir.path()).absoluteFilePath("two.lua")}};
    QSet<qint64> ids;
    for (const QJsonObject &task : tasks) {
        QCOMPARE(task.keys(), keys);
        const QString name = task.value("name").toString();
        QVERIFY2(files.contains(name), qPrintable(name));
        QCOMPARE(task.value("file").toString(), files.value(name));
        QVERIFY(QFileInfo(task.value("file").toString()).isAbsolute());
        QVERIFY(task.value("id").isDouble());
        ids.insert(task.value("id").toInteger());
        QCOMPARE(task.value("state").toString(), QStringLiteral("succeeded"));
        QCOMPARE(task.value("attempts").toInteger(), 1);
        QVERIFY(task.value("error").isNull());
        QVERIFY(task.value("stack").isNull());
        const QString started = task.value("started_at").toString();
        const QString finished = task.value("finished_at").toString();
        QVERIFY2(isoTime().match(started).hasMatch(), qPrintable(started));
        QVERIFY2(isoTime().match(finished).hasMatch(), qPrintable(finished));
        const QDateTime start = QDateTime::fromString(started, Qt::ISODateWithMs);
        const QDateTime end = QDateTime::fromString(finished, Qt::ISODateWithMs);
        QVERIFY(start.isValid() && end.isValid());
        QCOMPARE(start.timeSpec(), Qt::UTC);
        QVERIFY(qAbs(start.secsTo(QDateTime::currentDateTimeUtc())) < 120);
        QVERIFY(task.value("duration_s").isDouble());
        const double duration = task.value("duration_s").toDouble();
        QVERIFY(duration >= 0);
        QVERIFY(qAbs(duration * 1000 - double(start.msecsTo(end))) < 1.5);
    }
    QCOMPARE(ids.size(), 2);
    QCOMPARE(byName(tasks, "one.lua").value("result"), QJsonValue(1));
    QCOMPARE(byName(tasks, "second").value("result"), QJsonValue("x"));
    QVERIFY(byName(tasks, "second").value("duration_s").toDouble() >= 0.015);
}

void tst_Cli::jsonResultIsTheScriptsReturnValues_data()
{
    QTest::addColumn<QByteArray>("script");
    QTest::addColumn<QByteArray>("result"); // compact JSON

    QTest::newRow("integer") << QByteArray("return 42") << QByteArray("42");
    QTest::newRow("decimal") << QByteArray("return 1.5") << QByteArray("1.5");
    QTest::newRow("string") << QByteArray("return 'hi \"you\"'")
                            << QByteArray("\"hi \\\"you\\\"\"");
    QTest::newRow("boolean") << QByteArray("return false") << QByteArray("false");
    QTest::newRow("no value") << QByteArray("local x = 1") << QByteArray("null");
    QTest::newRow("nil") << QByteArray("return nil") << QByteArray("null");
    QTest::newRow("list") << QByteArray("return {1, 2, 3}") << QByteArray("[1,2,3]");
    QTest::newRow("table") << QByteArray("return {name = 'x', n = 2, list = {1, 'a'}, ok = true}")
                           << QByteArray("{\"list\":[1,\"a\"],\"n\":2,\"name\":\"x\",\"ok\":true}");
    QTest::newRow("nested") << QByteArray("return {items = {{id = 1}, {id = 2}}}")
                            << QByteArray("{\"items\":[{\"id\":1},{\"id\":2}]}");
    QTest::newRow("several values: an array")
        << QByteArray("return 1, 'two', {three = 3}") << QByteArray("[1,\"two\",{\"three\":3}]");
}

void tst_Cli::jsonResultIsTheScriptsReturnValues()
{
    QFETCH(QByteArray, script);
    QFETCH(QByteArray, result);

    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("result.lua"), script + '\n');
    const Run r = run({"run", "--json", path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 1);
    QCOMPARE(tasks[0].value("state").toString(), QStringLiteral("succeeded"));
    QVERIFY(tasks[0].contains("result"));
    QCOMPARE(compact(tasks[0].value("result")), '[' + result + ']');
}

void tst_Cli::failedTaskHasFileLineErrorAndStackInnermostFirst()
{
    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("fail.lua"),
                                   "local function inner()\n" // 1
                                   "  error('boom')\n"        // 2
                                   "end\n"                    // 3
                                   "local function outer()\n" // 4
                                   "  inner()\n"              // 5
                                   "end\n"                    // 6
                                   "outer()\n");              // 7
    const Run r = run({"run", "--json", path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 1);
    const QJsonObject task = tasks[0];
    QCOMPARE(task.value("state").toString(), QStringLiteral("failed"));
    const QString error = task.value("error").toString();
    QVERIFY2(error.contains(path + QStringLiteral(":2: boom")), qPrintable(error));
    QVERIFY(task.value("result").isNull());
    QVERIFY(isoTime().match(task.value("finished_at").toString()).hasMatch());

    const QJsonObject stack = task.value("stack").toObject();
    const QJsonArray frames = stack.value("frames").toArray();
    QVERIFY2(frames.size() >= 3, qPrintable(compact(stack)));
    for (const QJsonValue &f : frames) {
        const QJsonObject frame = f.toObject();
        QVERIFY(frame.value("file").isString());
        QVERIFY(frame.value("line").isDouble());
        QVERIFY(frame.value("function").isString());
    }
    const QJsonObject innermost = frames.first().toObject();
    QCOMPARE(innermost.value("file").toString(), path);
    QCOMPARE(innermost.value("line").toInt(), 2);
    QCOMPARE(innermost.value("function").toString(), QStringLiteral("inner"));
    const QJsonObject caller = frames.at(1).toObject();
    QCOMPARE(caller.value("line").toInt(), 5);
    QCOMPARE(caller.value("function").toString(), QStringLiteral("outer"));
    const QJsonObject outermost = frames.last().toObject();
    QCOMPARE(outermost.value("file").toString(), path);
    QCOMPARE(outermost.value("line").toInt(), 7);
}

void tst_Cli::timeoutStopsASleepingTaskAndShowsWhatItAwaited()
{
    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("slow.lua"), "local x = 1\nsleep(5)\nreturn x\n");
    const Run r = run({"run", "--json", "--timeout", "200ms", path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.elapsedMs < 4500, "the run waited for the sleep instead of the timeout");
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 1);
    const QJsonObject task = tasks[0];
    QCOMPARE(task.value("state").toString(), QStringLiteral("timed_out"));
    QVERIFY(!task.value("error").toString().isEmpty());
    const double duration = task.value("duration_s").toDouble();
    QVERIFY2(duration >= 0.19 && duration < 4.5, qPrintable(QString::number(duration)));
    const QJsonObject stack = task.value("stack").toObject();
    QCOMPARE(stack.value("awaiting").toString(), QStringLiteral("sleep(5)"));
    const QJsonArray frames = stack.value("frames").toArray();
    QVERIFY2(!frames.isEmpty(), qPrintable(compact(stack)));
    QCOMPARE(frames.first().toObject().value("file").toString(), path);
    QCOMPARE(frames.first().toObject().value("line").toInt(), 2);
}

void tst_Cli::exitIsZeroWhenAllSucceedAndOneWhenOneFails()
{
    ScriptDir dir;
    const QString ok1 = dir.write(QStringLiteral("ok1.lua"), "return 1\n");
    const QString ok2 = dir.write(QStringLiteral("ok2.lua"), "return 2\n");
    const QString bad = dir.write(QStringLiteral("bad.lua"), "error('no')\n");

    const Run good = run({"run", "--json", ok1, ok2});
    QVERIFY2(good.finished, qPrintable(good.describe()));
    QCOMPARE(good.exitCode, 0);
    QCOMPARE(jsonLines(good).size(), 2);

    const Run mixed = run({"run", "--json", ok1, bad, ok2});
    QVERIFY2(mixed.finished, qPrintable(mixed.describe()));
    QCOMPARE(mixed.exitCode, 1);
    const auto tasks = jsonLines(mixed);
    QCOMPARE(tasks.size(), 3);
    QCOMPARE(byName(tasks, "ok1.lua").value("state").toString(), QStringLiteral("succeeded"));
    QCOMPARE(byName(tasks, "ok2.lua").value("state").toString(), QStringLiteral("succeeded"));
    QCOMPARE(byName(tasks, "bad.lua").value("state").toString(), QStringLiteral("failed"));
}

void tst_Cli::rejectedFileExitsOneWhileOthersStillRun()
{
    ScriptDir dir;
    const QString good1 = dir.write(QStringLiteral("good1.lua"), "return 1\n");
    const QString bad = dir.write(QStringLiteral("bad.lua"), "-- @name bad\n-- @priority high\n");
    const QString missing = dir.path() + QStringLiteral("/missing.lua");
    const QString good2 = dir.write(QStringLiteral("good2.lua"), "return 2\n");

    const Run r = run({"run", "--json", good1, bad, missing, good2});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 2);
    QCOMPARE(byName(tasks, "good1.lua").value("state").toString(), QStringLiteral("succeeded"));
    QCOMPARE(byName(tasks, "good2.lua").value("state").toString(), QStringLiteral("succeeded"));

    const QStringList errLines = r.errLines();
    const QStringList aboutBad = errLines.filter(QStringLiteral("bad.lua"));
    QCOMPARE(aboutBad.size(), 1);
    QVERIFY2(aboutBad[0].contains(bad + QStringLiteral(":2: ")), qPrintable(aboutBad[0]));
    QVERIFY2(aboutBad[0].contains(QStringLiteral("@priority")), qPrintable(aboutBad[0]));
    QCOMPARE(errLines.filter(QStringLiteral("missing.lua")).size(), 1);
    QVERIFY(!r.out.contains("bad.lua"));
}

void tst_Cli::onlyRejectedFilesExitOneWithNothingOnStdout()
{
    ScriptDir dir;
    const QString empty = dir.write(QStringLiteral("empty.lua"), QByteArray());
    const Run r = run({"run", "--json", empty});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    QVERIFY(r.out.isEmpty());
    QCOMPARE(r.errLines().filter(QStringLiteral("empty.lua")).size(), 1);
}

void tst_Cli::usageErrorExitsTwoAndRunsNothing_data()
{
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<bool>("withFile");

    QTest::newRow("unknown option") << QStringList{"--bogus"} << true;
    QTest::newRow("unitless --timeout") << QStringList{"--timeout", "10"} << true;
    QTest::newRow("word --timeout") << QStringList{"--timeout", "soon"} << true;
    QTest::newRow("zero --timeout") << QStringList{"--timeout", "0s"} << true;
    QTest::newRow("--timeout past 365 days") << QStringList{"--timeout", "2562048h"} << true;
    QTest::newRow("--grace past 365 days") << QStringList{"--grace", "9000h"} << true;
    QTest::newRow("--timeout without value") << QStringList{"--timeout"} << false;
    QTest::newRow("no files") << QStringList{"--json"} << false;
    QTest::newRow("nothing at all") << QStringList{} << false;
    QTest::newRow("--group without limit") << QStringList{"--group", "g"} << true;
    QTest::newRow("--group zero limit") << QStringList{"--group", "g=0"} << true;
    QTest::newRow("--group word limit") << QStringList{"--group", "g=many"} << true;
    QTest::newRow("--group without name") << QStringList{"--group", "=1"} << true;
    QTest::newRow("--max-concurrency 0") << QStringList{"--max-concurrency", "0"} << true;
    QTest::newRow("--repeat 0") << QStringList{"--repeat", "0"} << true;
    QTest::newRow("--priority word") << QStringList{"--priority", "high"} << true;
    QTest::newRow("--arg without =") << QStringList{"--arg", "who"} << true;
    QTest::newRow("--memory unitless") << QStringList{"--memory", "100"} << true;
    QTest::newRow("--memory 1B") << QStringList{"--memory", "1B"} << true;
    QTest::newRow("--after word") << QStringList{"--after", "first"} << true;
    QTest::newRow("--after 0") << QStringList{"--after", "0"} << true;
    QTest::newRow("--after-ended trailing comma") << QStringList{"--after-ended", "3,"} << true;
}

void tst_Cli::usageErrorExitsTwoAndRunsNothing()
{
    QFETCH(QStringList, options);
    QFETCH(bool, withFile);

    ScriptDir dir;
    const QString marker = dir.path() + QStringLiteral("/ran");
    const QString script = dir.write(QStringLiteral("touch.lua"),
                                     "assert(io.open('" + marker.toUtf8() + "', 'w')):close()\n");
    QStringList args = QStringList{"run"} + options;
    if (withFile)
        args.append(script);
    const Run r = run(args);
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.out.isEmpty(), qPrintable(r.describe()));
    QVERIFY2(!r.err.trimmed().isEmpty(), "a usage error says what is wrong");
    QVERIFY(!QFileInfo::exists(marker));

    // The same file without the bad options does run: the marker proves something.
    if (withFile) {
        const Run ok = run({"run", script});
        QCOMPARE(ok.exitCode, 0);
        QVERIFY(QFileInfo::exists(marker));
    }
}

void tst_Cli::repeatSubmitsEachFileNTimes()
{
    ScriptDir dir;
    const QString a = dir.write(QStringLiteral("a.lua"), "return task.id\n");
    const QString b = dir.write(QStringLiteral("b.lua"), "return task.id\n");
    const Run r = run({"run", "--json", "--repeat", "5", a, b});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 10);
    QSet<qint64> ids;
    int ofA = 0;
    for (const QJsonObject &task : tasks) {
        QCOMPARE(task.value("state").toString(), QStringLiteral("succeeded"));
        QCOMPARE(task.value("result").toInteger(), task.value("id").toInteger());
        ids.insert(task.value("id").toInteger());
        ofA += task.value("name").toString() == u"a.lua";
    }
    QCOMPARE(ids.size(), 10);
    QCOMPARE(ofA, 5);
}

void tst_Cli::argReachesTaskArgsAndOverridesScriptArg_data()
{
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<QByteArray>("result");

    QTest::newRow("the script's @arg")
        << QStringList{} << QByteArray("{\"keep\":\"k\",\"who\":\"script\"}");
    QTest::newRow("--arg replaces the @arg of its key")
        << QStringList{"--arg", "who=x"} << QByteArray("{\"keep\":\"k\",\"who\":\"x\"}");
    QTest::newRow("--arg adds a key")
        << QStringList{"--arg", "extra=a b=c"}
        << QByteArray("{\"extra\":\"a b=c\",\"keep\":\"k\",\"who\":\"script\"}");
    QTest::newRow("the last --arg of a key wins") << QStringList{"--arg", "who=1", "--arg", "who=2"}
                                                  << QByteArray("{\"keep\":\"k\",\"who\":\"2\"}");
}

void tst_Cli::argReachesTaskArgsAndOverridesScriptArg()
{
    QFETCH(QStringList, options);
    QFETCH(QByteArray, result);

    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("args.lua"),
                                   "-- @arg who=script\n-- @arg keep=k\n"
                                   "return {who = task.args.who, keep = task.args.keep,\n"
                                   "        extra = task.args.extra}\n");
    const Run r = run(QStringList{"run", "--json"} + options + QStringList{path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 1);
    QCOMPARE(compact(tasks[0].value("result")), '[' + result + ']');
}

void tst_Cli::maxConcurrencyOneRunsOneAtATimeInPriorityOrder()
{
    ScriptDir dir;
    const QString out = dir.path() + QStringLiteral("/order.txt");
    // Submitted lowest priority first: only the priorities can give the expected order.
    const QString low = dir.write("low.lua", markerScript(out, "-- @name low\n-- @priority 1\n"));
    const QString high =
        dir.write("high.lua", markerScript(out, "-- @name high\n-- @priority 3\n"));
    const QString mid = dir.write("mid.lua", markerScript(out, "-- @name mid\n-- @priority 2\n"));

    const Run r = run({"run", "--max-concurrency", "1", low, high, mid});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(readLines(out), (QStringList{"start high", "end high", "start mid", "end mid",
                                          "start low", "end low"}));
}

// Escape sequences in a name, a log line or an error once rewrote the user's terminal.
void tst_Cli::controlCharactersOfATaskAreShownNotObeyed()
{
    ScriptDir dir;
    const QString path = dir.write("hostile.lua", hostileScript);
    const Run r = run({"run", path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(terminalSafe(r.out), r.out.toPercentEncoding().constData());
    QVERIFY2(terminalSafe(r.err), r.err.toPercentEncoding().constData());
    QVERIFY2(r.out.contains("\\x1b]0;owned\\x07\\x1b[2Jevil\\u009b31m"), qPrintable(r.describe()));
    QVERIFY2(r.out.contains("\\x1b[2J\\x0dlog\\x08hidden"), qPrintable(r.describe()));
    QVERIFY2(r.out.contains("\\x1b[31mred\\x0d\\x1b[Kgone\\u009bx"), qPrintable(r.describe()));
    // --json needs no escaping of its own: its encoder escapes control characters.
    const Run json = run({"run", "--json", path});
    QVERIFY2(!json.out.contains('\x1b'), json.out.constData());
}

// "-j1" was refused as the unknown option "j1".
void tst_Cli::attachedJValueIsAcceptedLikeMake()
{
    ScriptDir dir;
    const QString out = dir.path() + QStringLiteral("/order.txt");
    const QString low = dir.write("low.lua", markerScript(out, "-- @name low\n-- @priority 1\n"));
    const QString high =
        dir.write("high.lua", markerScript(out, "-- @name high\n-- @priority 3\n"));
    const Run r = run({"run", "-j1", low, high});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(readLines(out), (QStringList{"start high", "end high", "start low", "end low"}));
    const Run bad = run({"run", "-j0", low});
    QCOMPARE(bad.exitCode, 2);
    QVERIFY2(bad.err.contains("--max-concurrency"), qPrintable(bad.describe()));
}

void tst_Cli::priorityOptionOverridesDirective()
{
    ScriptDir dir;
    const QString out = dir.path() + QStringLiteral("/order.txt");
    const QString first = dir.write("first.lua", markerScript(out, "-- @name first\n"
                                                                   "-- @priority -5\n"));
    const QString second = dir.write("second.lua", markerScript(out, "-- @name second\n"
                                                                     "-- @priority 5\n"));

    // By the directives, second goes first...
    Run r = run({"run", "-j", "1", first, second});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(readLines(out),
             (QStringList{"start second", "end second", "start first", "end first"}));
    // ...with one --priority for all, submission order decides.
    QVERIFY(QFile::remove(out));
    r = run({"run", "-j", "1", "--priority", "7", first, second});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(readLines(out),
             (QStringList{"start first", "end first", "start second", "end second"}));
}

void tst_Cli::groupLimitKeepsTasksOfThatGroupApart()
{
    ScriptDir dir;
    const QString out = dir.path() + QStringLiteral("/group.txt");
    const QString g = dir.write("g.lua", markerScript(out, "-- @group g\n"));
    const QString h = dir.write("h.lua", markerScript(out, "-- @group h\n"));

    const Run r = run({"run", "--json", "--group", "g=1", "--repeat", "3", g, h});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(jsonLines(r).size(), 6);
    const QStringList lines = readLines(out);
    QCOMPARE(lines.size(), 12);
    // Group g: every start is followed by its end before the next start.
    const QStringList ofG = lines.filter(QRegularExpression(QStringLiteral(" g\\.lua$")));
    QCOMPARE(ofG, (QStringList{"start g.lua", "end g.lua", "start g.lua", "end g.lua",
                               "start g.lua", "end g.lua"}));
    // Group h has no limit: its three tasks all start before any of them ends.
    const QStringList ofH = lines.filter(QRegularExpression(QStringLiteral(" h\\.lua$")));
    QCOMPARE(ofH.mid(0, 3), (QStringList{"start h.lua", "start h.lua", "start h.lua"}));
}

void tst_Cli::helpAndVersionExitZero_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected"); // a line of stdout

    const QString version = QStringLiteral("taskdeck " TASKDECK_VERSION);
    QTest::newRow("run --help") << QStringList{"run", "--help"} << "--max-concurrency";
    QTest::newRow("run -h") << QStringList{"run", "-h"} << "--json";
    QTest::newRow("run --version") << QStringList{"run", "--version"} << version;
    QTest::newRow("--help") << QStringList{"--help"} << "run";
    QTest::newRow("--version") << QStringList{"--version"} << version;
}

void tst_Cli::helpAndVersionExitZero()
{
    QFETCH(QStringList, args);
    QFETCH(QString, expected);

    const Run r = run(args);
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(QString::fromUtf8(r.out).contains(expected), qPrintable(r.describe()));
    if (expected.startsWith(u"taskdeck "))
        QCOMPARE(r.outLines(), QStringList{expected});
}

// Issue 15: labels come from runs of ids per script (no string kept per task), and a
// batch's endings are printed at once: each copy still gets its own id and script name.
void tst_Cli::humanOutputLabelsEveryCopyWithItsIdAndScript()
{
    ScriptDir dir;
    const QString a = dir.write(QStringLiteral("a.lua"), "print(task.id)\nreturn task.id\n");
    const QString b = dir.write(QStringLiteral("b.lua"), "print(task.id)\nreturn task.id\n");
    const Run r = run({"run", "--repeat", "3", a, b});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    const QRegularExpression ending(QStringLiteral("^#(\\d+) (\\w+\\.lua): succeeded in "
                                                   "[0-9.]+s => (\\d+)$"));
    const QRegularExpression logged(QStringLiteral("^\\[#(\\d+) (\\w+\\.lua)\\] (\\d+)$"));
    QMap<int, QString> ended, printed;
    for (const QString &line : r.outLines()) {
        if (const auto m = ending.match(line); m.hasMatch()) {
            QCOMPARE(m.captured(3), m.captured(1));
            ended.insert(m.captured(1).toInt(), m.captured(2));
        } else if (const auto l = logged.match(line); l.hasMatch()) {
            QCOMPARE(l.captured(3), l.captured(1));
            printed.insert(l.captured(1).toInt(), l.captured(2));
        }
    }
    const QMap<int, QString> expected{{1, "a.lua"}, {2, "a.lua"}, {3, "a.lua"},
                                      {4, "b.lua"}, {5, "b.lua"}, {6, "b.lua"}};
    QCOMPARE(ended, expected);
    QCOMPARE(printed, expected);
}

// Issue 15: `run` ends without freeing its tasks' records, but only after the engine has
// stopped every run: a process that escaped its task's group is gone when run returns.
void tst_Cli::runLeavesNoProcessOfItsTasksBehind()
{
    const QByteArray seconds = "302." + QByteArray::number(QCoreApplication::applicationPid());
    const QByteArray wanted = "sleep" + QByteArray(1, '\0') + seconds + QByteArray(1, '\0');
    auto alive = [&] {
        int n = 0;
        for (const QString &entry : QDir(QStringLiteral("/proc")).entryList(QDir::Dirs)) {
            QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(entry));
            n += cmdline.open(QIODevice::ReadOnly) && cmdline.readAll() == wanted;
        }
        return n;
    };
    ScriptDir dir;
    const QString script = dir.write(QStringLiteral("escape.sh"),
                                     "( setsid sleep " + seconds + " & ); echo started\n");
    const Run r = run({"run", script});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QTRY_COMPARE_WITH_TIMEOUT(alive(), 0, 5000);
}

void tst_Cli::humanOutputHasOneLinePerTaskNamingItsState()
{
    ScriptDir dir;
    const QString ok = dir.write(QStringLiteral("ok.lua"), "print('hello')\nreturn 1\n");
    const QString bad = dir.write(QStringLiteral("bad.lua"), "error('broken')\n");
    const QString slow = dir.write(QStringLiteral("slow.lua"), "sleep(5)\n");
    const Run r = run({"run", "--timeout", "200ms", ok, bad, slow});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);

    const QStringList lines = r.outLines();
    auto linesAbout = [&](const QString &name) {
        return lines.filter(QRegularExpression(
            QStringLiteral("^#\\d+ %1: ").arg(QRegularExpression::escape(name))));
    };
    const QStringList okLines = linesAbout(QStringLiteral("ok.lua"));
    const QStringList badLines = linesAbout(QStringLiteral("bad.lua"));
    const QStringList slowLines = linesAbout(QStringLiteral("slow.lua"));
    QVERIFY2(okLines.size() == 1 && badLines.size() == 1 && slowLines.size() == 1,
             qPrintable(r.describe()));
    QVERIFY2(okLines[0].contains(QStringLiteral(": succeeded")), qPrintable(okLines[0]));
    QVERIFY2(badLines[0].contains(QStringLiteral(": failed")), qPrintable(badLines[0]));
    QVERIFY2(badLines[0].contains(QStringLiteral("broken")), qPrintable(badLines[0]));
    QVERIFY2(slowLines[0].contains(QStringLiteral(": timed_out")), qPrintable(slowLines[0]));
    // Everything else is a task's log line or an indented detail, never a second summary.
    for (const QString &line : lines)
        QVERIFY2(line.startsWith(u'#') || line.startsWith(u'[') || line.startsWith(u' '),
                 qPrintable(line));
    QCOMPARE(lines.filter(QRegularExpression(QStringLiteral("^#\\d+ "))).size(), 3);
    QVERIFY(!lines.filter(QStringLiteral("hello")).isEmpty());
}

// A process task's stack is a process node, not coroutine frames: the text output still
// says what the process was doing and which command it was (as the JSON does).
void tst_Cli::humanOutputShowsATimedOutProcessAndWhatItWasDoing()
{
    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("nap.sh"), "#!/bin/sh\nexec sleep 30\n");
    QFile::setPermissions(path, QFile::permissions(path) | QFile::ExeOwner);
    const Run r = run({"run", "--timeout", "300ms", path});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = r.outLines();
    QVERIFY2(
        !lines.filter(QRegularExpression(QStringLiteral("^#\\d+ nap.sh: timed_out"))).isEmpty(),
        qPrintable(r.describe()));
    QVERIFY2(
        !lines.filter(QRegularExpression(QStringLiteral("^    awaiting process \\w"))).isEmpty(),
        qPrintable(r.describe()));
    QVERIFY2(!lines.filter(QRegularExpression(QStringLiteral("^    at sleep 30:\\d+ in pid \\d+")))
                  .isEmpty(),
             qPrintable(r.describe()));
}

void tst_Cli::noProgressLineWhenStderrIsNotATerminal()
{
    ScriptDir dir;
    const QString path = dir.write(QStringLiteral("wait.lua"), "sleep(0.4)\nreturn 1\n");
    const QString fail = dir.write(QStringLiteral("fail.lua"), "sleep(0.2)\nerror('x')\n");
    const Run r = run({"run", "--repeat", "3", path, fail});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(!r.err.contains('\x1b'), qPrintable(r.describe()));
    QVERIFY2(!r.err.contains('\r'), qPrintable(r.describe()));
    QVERIFY2(!r.out.contains('\x1b'), qPrintable(r.describe()));
}

void tst_Cli::runExpandsAFolderToItsScriptsInNameOrder()
{
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("jobs/sub")));
    dir.write(QStringLiteral("jobs/b.lua"), "return 'b'\n");
    dir.write(QStringLiteral("jobs/a.lua"), "return 'a'\n");
    dir.write(QStringLiteral("jobs/sub/c.sh"), "echo c\n");
    dir.write(QStringLiteral("jobs/z.lua"), "-- @priority soon\nreturn 'z'\n");
    const QString single = dir.write(QStringLiteral("single.lua"), "return 's'\n");

    // One at a time, so they end in the order they were queued.
    const Run r = run({"run", "--json", "-j", "1", "jobs", single}, dir.path());
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1); // jobs/z.lua is rejected
    QStringList names;
    for (const QJsonObject &task : jsonLines(r)) {
        QCOMPARE(task.value("state").toString(), QStringLiteral("succeeded"));
        names.append(task.value("name").toString());
    }
    QCOMPARE(names, (QStringList{"a.lua", "b.lua", "c.sh", "single.lua"}));
    QCOMPARE(r.errLines(), QStringList{"taskdeck: jobs/z.lua:1: @priority must be an integer, "
                                       "not \"soon\""});
}

void tst_Cli::submitAndHandOverExpandAFolderAsTheWindowDoes()
{
    QTemporaryDir data;
    ScriptDir dir;
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("jobs/sub")));
    dir.write(QStringLiteral("jobs/b.lua"), "return 'b'\n");
    dir.write(QStringLiteral("jobs/a.lua"), "return 'a'\n");
    dir.write(QStringLiteral("jobs/sub/c.lua"), "return 'c'\n");

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    auto dashboard = std::make_unique<QProcess>();
    dashboard->setProcessEnvironment(env);
    dashboard->setStandardInputFile(QProcess::nullDevice());
    dashboard->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    dashboard->start(m_bin, {"--data-dir", data.path()});
    QVERIFY(dashboard->waitForStarted(10000));
    auto ps = [&] { return runProgram(m_bin, {"ps", "--json", "--data-dir", data.path()}, env); };
    QVERIFY(QTest::qWaitFor(
        [&] { return dashboard->state() != QProcess::Running || ps().exitCode == 0; }, 30000));
    QCOMPARE(dashboard->state(), QProcess::Running);

    // The limit of one submit counts the folder's scripts, not the folder.
    const Run tooMany =
        runProgram(m_bin, {"submit", "--data-dir", data.path(), "--repeat", "400000", "jobs"}, env,
                   dir.path());
    QCOMPARE(tooMany.exitCode, 1);
    QVERIFY2(tooMany.err.contains("at most 1000000 tasks per submit"),
             qPrintable(tooMany.describe()));

    const Run submitted =
        runProgram(m_bin, {"submit", "--data-dir", data.path(), "jobs"}, env, dir.path());
    QCOMPARE(submitted.exitCode, 0);
    const QStringList lines = submitted.outLines();
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines[0].startsWith("submitted jobs/a.lua as task "), qPrintable(lines[0]));
    QVERIFY2(lines[1].startsWith("submitted jobs/b.lua as task "), qPrintable(lines[1]));
    QVERIFY2(lines[2].startsWith("submitted jobs/sub/c.lua as task "), qPrintable(lines[2]));

    // `taskdeck DIR` hands the folder over; the dashboard expands it the same way.
    const Run handed = runProgram(m_bin, {"--data-dir", data.path(), "jobs"}, env, dir.path());
    QCOMPARE(handed.exitCode, 0);

    auto files = [&] {
        QStringList succeeded;
        for (const QString &line : ps().outLines()) {
            const QJsonObject task = QJsonDocument::fromJson(line.toUtf8()).object();
            if (task.value("state").toString() == u"succeeded")
                succeeded.append(QDir(dir.path()).relativeFilePath(task.value("file").toString()));
        }
        return succeeded;
    };
    const QStringList twice{"jobs/a.lua", "jobs/b.lua", "jobs/sub/c.lua",
                            "jobs/a.lua", "jobs/b.lua", "jobs/sub/c.lua"};
    QTRY_COMPARE_WITH_TIMEOUT(files().size(), twice.size(), 20000);
    QStringList sorted = files();
    sorted.sort();
    QStringList expected = twice;
    expected.sort();
    QCOMPARE(sorted, expected);
    QCOMPARE(ps().outLines().size(), twice.size());

    dashboard->terminate();
    QVERIFY(dashboard->waitForFinished(30000));
    QCOMPARE(dashboard->exitCode(), 0);
}

void tst_Cli::chainRunsTheFilesOneAfterAnotherWhateverTheLimit()
{
    ScriptDir dir;
    const QString out = dir.path() + QStringLiteral("/order.txt");
    const QString c = dir.write("c.lua", markerScript(out, "-- @name c\n-- @priority 9\n"));
    const QString a = dir.write("a.lua", markerScript(out, "-- @name a\n"));
    const QString b = dir.write("b.lua", markerScript(out, "-- @name b\n"));

    // In the order given, priorities notwithstanding, with slots to spare.
    const Run r = run({"run", "--json", "--chain", "-j", "8", c, a, b});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(readLines(out),
             (QStringList{"start c", "end c", "start a", "end a", "start b", "end b"}));
    const auto tasks = jsonLines(r);
    QCOMPARE(tasks.size(), 3);
    QCOMPARE(byName(tasks, "c").value("after").toArray(), QJsonArray());
    QCOMPARE(byName(tasks, "a").value("after").toArray(),
             QJsonArray{byName(tasks, "c").value("id")});
    QCOMPARE(byName(tasks, "b").value("after").toArray(),
             QJsonArray{byName(tasks, "a").value("id")});
}

void tst_Cli::chainStopsAtAFailureAndCancelsTheRestNamingIt()
{
    ScriptDir dir;
    const QString ok = dir.write("ok.lua", "return 1\n");
    const QString bad = dir.write("bad.lua", "error('no', 0)\n");
    const QString later = dir.write("later.lua", "return 3\n");
    const Run r = run({"run", "--chain", ok, bad, later});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    const QStringList lines = r.outLines();
    QVERIFY2(lines.filter(QRegularExpression("^#3 later.lua: cancelled: dependency #2 failed$"))
                     .size() == 1,
             qPrintable(r.describe()));
}

void tst_Cli::afterAnUnknownTaskIsRefusedAndRunsNothing()
{
    ScriptDir dir;
    const QString marker = dir.path() + QStringLiteral("/ran");
    const QString script = dir.write(QStringLiteral("touch.lua"),
                                     "assert(io.open('" + marker.toUtf8() + "', 'w')):close()\n");
    const Run r = run({"run", "--after", "99", script});
    QVERIFY2(r.finished, qPrintable(r.describe()));
    QCOMPARE(r.exitCode, 1);
    QCOMPARE(r.errLines(), QStringList{"taskdeck run: dependency #99: no such task"});
    QVERIFY(!QFileInfo::exists(marker));
    // Its own id (a run's tasks are numbered from 1) would be a cycle.
    const Run own = run({"run", "--after", "1", script});
    QCOMPARE(own.exitCode, 1);
    QCOMPARE(own.errLines(), QStringList{"taskdeck run: dependency #1 would make a cycle: it is "
                                         "one of the tasks submitted"});
    QVERIFY(!QFileInfo::exists(marker));
}

void tst_Cli::submitAfterWaitsForTheTaskAndRefusesAnUnknownOne()
{
    QTemporaryDir data;
    ScriptDir dir;
    const QString release = dir.path() + QStringLiteral("/release");
    dir.write(QStringLiteral("first.lua"),
              "while not io.open('" + release.toUtf8() + "') do sleep(0.05) end\nreturn 1\n");
    dir.write(QStringLiteral("second.lua"), "return 2\n");

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    auto dashboard = std::make_unique<QProcess>();
    dashboard->setProcessEnvironment(env);
    dashboard->setStandardInputFile(QProcess::nullDevice());
    dashboard->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    dashboard->start(m_bin, {"--data-dir", data.path()});
    QVERIFY(dashboard->waitForStarted(10000));
    auto ps = [&] {
        QHash<qint64, QJsonObject> tasks;
        const Run listed = runProgram(m_bin, {"ps", "--json", "--data-dir", data.path()}, env);
        for (const QString &line : listed.outLines()) {
            const QJsonObject task = QJsonDocument::fromJson(line.toUtf8()).object();
            tasks.insert(task.value("id").toInteger(), task);
        }
        return tasks;
    };
    QVERIFY(QTest::qWaitFor(
        [&] {
            return dashboard->state() != QProcess::Running ||
                   runProgram(m_bin, {"ps", "--data-dir", data.path()}, env).exitCode == 0;
        },
        30000));

    const Run first = runProgram(
        m_bin, {"submit", "--json", "--data-dir", data.path(), "first.lua"}, env, dir.path());
    QCOMPARE(first.exitCode, 0);
    const qint64 firstId =
        QJsonDocument::fromJson(first.out).object().value("ids").toArray().first().toInteger();
    QVERIFY(firstId > 0);
    const Run unknown =
        runProgram(m_bin, {"submit", "--data-dir", data.path(), "--after", "9999", "second.lua"},
                   env, dir.path());
    QCOMPARE(unknown.exitCode, 1);
    QVERIFY2(unknown.err.contains("dependency #9999: no such task"),
             qPrintable(unknown.describe()));
    const Run second = runProgram(m_bin,
                                  {"submit", "--json", "--data-dir", data.path(), "--after",
                                   QString::number(firstId), "second.lua"},
                                  env, dir.path());
    QCOMPARE(second.exitCode, 0);
    const qint64 secondId =
        QJsonDocument::fromJson(second.out).object().value("ids").toArray().first().toInteger();
    QCOMPARE(ps().size(), 2); // the refused one queued nothing
    QCOMPARE(ps().value(secondId).value("after").toArray(), QJsonArray{firstId});
    auto why = [&] {
        const Run stacks =
            runProgram(m_bin, {"ps", "--json", "--stacks", "--data-dir", data.path()}, env);
        for (const QString &line : stacks.outLines()) {
            const QJsonObject task = QJsonDocument::fromJson(line.toUtf8()).object();
            if (task.value("id").toInteger() == secondId)
                return task.value("waiting").toString();
        }
        return QString();
    };
    QTRY_COMPARE_WITH_TIMEOUT(why(), QStringLiteral("waiting for #%1 (running)").arg(firstId),
                              10000);
    QFile(release).open(QIODevice::WriteOnly);
    QTRY_COMPARE_WITH_TIMEOUT(ps().value(secondId).value("state").toString(),
                              QStringLiteral("succeeded"), 20000);

    dashboard->terminate();
    QVERIFY(dashboard->waitForFinished(30000));
    QCOMPARE(dashboard->exitCode(), 0);
}

QTEST_GUILESS_MAIN(tst_Cli)
#include "tst_cli.moc"
