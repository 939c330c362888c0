// Exporting tasks (the dashboard's File > Export): JSON lines with the fields of
// `taskdeck run --json` plus priority, group and progress; CSV as RFC 4180 asks, so that
// any field survives a round trip; the format chosen by the file's suffix.
#include "taskexport.h"
#include "testsupport.h"

#include <QBuffer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

namespace {

TaskSnapshot finished(TaskId id, TaskState state)
{
    TaskSnapshot t;
    t.id = id;
    t.name = QStringLiteral("task %1").arg(id);
    t.file = QStringLiteral("/scripts/t%1.lua").arg(id);
    t.group = QStringLiteral("net");
    t.priority = -3;
    t.state = state;
    t.attempt = 2;
    t.maxAttempts = 3;
    t.submittedAtMs = 1795300000000;
    t.startedAtMs = 1795300001000;
    t.finishedAtMs = 1795300003250;
    return t;
}

} // namespace

class tst_TaskExport : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void formatFollowsTheSuffix_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("format"); // -1: none
        QTest::newRow("jsonl") << "/tmp/a.jsonl" << int(TaskExport::Format::JsonLines);
        QTest::newRow("ndjson") << "a.ndjson" << int(TaskExport::Format::JsonLines);
        QTest::newRow("json") << "a.b.JSON" << int(TaskExport::Format::JsonLines);
        QTest::newRow("csv") << "/x/tasks.Csv" << int(TaskExport::Format::Csv);
        QTest::newRow("other") << "tasks.txt" << -1;
        QTest::newRow("none") << "tasks" << -1;
    }

    void formatFollowsTheSuffix()
    {
        QFETCH(QString, file);
        QFETCH(int, format);
        const auto found = TaskExport::formatOf(file);
        QCOMPARE(found ? int(*found) : -1, format);
    }

    void csvQuotesOnlyWhatNeedsIt_data()
    {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QByteArray>("written");
        QTest::newRow("plain") << "plain text" << QByteArray("plain text");
        QTest::newRow("empty") << "" << QByteArray("");
        QTest::newRow("comma") << "a,b" << QByteArray("\"a,b\"");
        QTest::newRow("quote") << "say \"hi\"" << QByteArray("\"say \"\"hi\"\"\"");
        QTest::newRow("LF") << "a\nb" << QByteArray("\"a\nb\"");
        QTest::newRow("CR") << "a\rb" << QByteArray("\"a\rb\"");
        QTest::newRow("unicode") << "héllo ✓" << QByteArray("héllo ✓");
    }

    void csvQuotesOnlyWhatNeedsIt()
    {
        QFETCH(QString, field);
        QFETCH(QByteArray, written);
        QCOMPARE(TaskExport::csvRecord({field, QStringLiteral("x")}), written + ",x\r\n");
    }

    void jsonLinesHoldTheRunJsonFieldsAndMore()
    {
        TaskSnapshot failed = finished(4, TaskState::Failed);
        failed.error = QStringLiteral("t4.lua:2: boom\nstack traceback:\n\t[C]: in ?");
        auto stack = std::make_shared<CoroutineStack>();
        stack->frames = {{failed.file, 2, QStringLiteral("step")}};
        failed.stack = stack;
        TaskSnapshot ok = finished(5, TaskState::Succeeded);
        ok.result = QJsonArray{1, QStringLiteral("two")};
        ok.progress = 1;
        QBuffer buffer;
        QVERIFY(buffer.open(QIODevice::WriteOnly));
        QVERIFY(TaskExport::write(buffer, TaskExport::Format::JsonLines, {failed, ok}));
        const QList<QByteArray> lines = buffer.data().split('\n');
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[2].isEmpty());
        const QJsonObject f = QJsonDocument::fromJson(lines[0]).object();
        for (const char *key :
             {"id", "name", "file", "state", "result", "error", "stack", "attempts", "started_at",
              "finished_at", "duration_s", "priority", "group", "progress"})
            QVERIFY2(f.contains(QLatin1String(key)), key);
        QCOMPARE(f["id"].toInteger(), 4);
        QCOMPARE(f["state"].toString(), QStringLiteral("failed"));
        QCOMPARE(f["error"].toString(), failed.error);
        QCOMPARE(f["priority"].toInt(), -3);
        QCOMPARE(f["group"].toString(), QStringLiteral("net"));
        QVERIFY(f["progress"].isNull());
        QCOMPARE(f["started_at"].toString(), QStringLiteral("2026-11-21T22:26:41.000Z"));
        QCOMPARE(f["duration_s"].toDouble(), 2.25);
        QCOMPARE(f["stack"].toObject()["frames"].toArray()[0].toObject()["line"].toInt(), 2);
        const QJsonObject o = QJsonDocument::fromJson(lines[1]).object();
        QCOMPARE(o["result"].toArray(), QJsonArray({1, QStringLiteral("two")}));
        QCOMPARE(o["progress"].toDouble(), 1.0);
        QVERIFY(o["stack"].isNull());
    }

    void csvSurvivesARoundTrip()
    {
        TaskSnapshot failed = finished(1, TaskState::Failed);
        failed.name = QStringLiteral("a, \"quoted\" name");
        failed.error = QStringLiteral("line one, with \"quotes\"\r\nline two\nline three\r");
        TaskSnapshot ok = finished(2, TaskState::Succeeded);
        ok.result = QStringLiteral("plain string");
        TaskSnapshot number = finished(3, TaskState::Succeeded);
        number.result = 42;
        TaskSnapshot object = finished(4, TaskState::Succeeded);
        object.result = QJsonObject{{QStringLiteral("k"), true}};
        TaskSnapshot never = finished(5, TaskState::Cancelled);
        never.startedAtMs = -1;
        never.attempt = 0;
        QBuffer buffer;
        QVERIFY(buffer.open(QIODevice::WriteOnly));
        QVERIFY(TaskExport::write(buffer, TaskExport::Format::Csv,
                                  {failed, ok, number, object, never}));
        const QList<QStringList> records = parseCsv(QString::fromUtf8(buffer.data()));
        QCOMPARE(records.size(), 6);
        QCOMPARE(records[0], TaskExport::csvHeader());
        QCOMPARE(records[1], TaskExport::csvFields(failed));
        QCOMPARE(records[1][1], failed.name);
        QCOMPARE(records[1][5], QStringLiteral("failed"));
        QCOMPARE(records[1][6], QStringLiteral("2"));
        QCOMPARE(records[1][7], QStringLiteral("2026-11-21T22:26:41.000Z"));
        QCOMPARE(records[1][9], QStringLiteral("2.250"));
        QCOMPARE(records[1][11], failed.error);
        QCOMPARE(records[2][10], QStringLiteral("plain string"));
        QCOMPARE(records[3][10], QStringLiteral("42"));
        QCOMPARE(records[4][10], QStringLiteral("{\"k\":true}"));
        QCOMPARE(records[5][7], QString());
        QCOMPARE(records[5][9], QString());
        QCOMPARE(records[5][10], QString());
    }

    void aLargeExportIsWrittenWhole()
    {
        QList<TaskSnapshot> tasks;
        for (TaskId id = 1; id <= 5000; ++id)
            tasks.append(finished(id, TaskState::Succeeded));
        QBuffer buffer;
        QVERIFY(buffer.open(QIODevice::WriteOnly));
        QVERIFY(TaskExport::write(buffer, TaskExport::Format::JsonLines, tasks));
        const QList<QByteArray> lines = buffer.data().split('\n');
        QCOMPARE(lines.size(), 5001);
        QCOMPARE(QJsonDocument::fromJson(lines[4999]).object()["id"].toInteger(), 5000);
    }

    void aRefusedWriteIsReported()
    {
        QBuffer buffer;
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        QTest::ignoreMessage(QtWarningMsg, "QIODevice::write (QBuffer): ReadOnly device");
        QVERIFY(!TaskExport::write(buffer, TaskExport::Format::Csv,
                                   {finished(1, TaskState::Succeeded)}));
    }
};

QTEST_GUILESS_MAIN(tst_TaskExport)
#include "tst_taskexport.moc"
