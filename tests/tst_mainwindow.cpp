// The dashboard window against a real engine (SPEC section 7): files dropped anywhere are
// submitted or listed as rejected, a row's cancel button cancels its task, priorities and
// moves reach the engine and change what it runs, the panes show the selected task. Tasks
// of earlier runs (Engine::restore) show as history: interrupted ones counted, filtered and
// re-run; tasks export as JSON lines or CSV; notices show until dismissed; cleared tasks
// are forgotten by the task store.
#include "testsupport.h"

#include "dropoverlay.h"
#include "instanceservice.h"
#include "limitspanel.h"
#include "localtasksource.h"
#include "logpane.h"
#include "mainwindow.h"
#include "noticebar.h"
#include "quitdialog.h"
#include "stackpane.h"
#include "statestyle.h"
#include "statspanel.h"
#include "store/taskstore.h"
#include "taskfilterproxymodel.h"
#include "taskitemdelegate.h"
#include "tasktablemodel.h"
#include "taskview.h"
#include "trayicon.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDockWidget>
#include <QDropEvent>
#include <QFile>
#include <QFrame>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <numeric>

namespace {

QList<QUrl> urls(const QStringList &paths)
{
    QList<QUrl> list;
    for (const QString &p : paths)
        list.append(QUrl::fromLocalFile(p));
    return list;
}

// Drags `paths` onto `target` (at its centre) and drops them, as a file manager would.
bool dropFiles(QWidget *target, const QStringList &paths)
{
    QMimeData mime;
    mime.setUrls(urls(paths));
    const QPoint pos = target->rect().center();
    QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    if (!enter.isAccepted())
        return false;
    QDropEvent drop(QPointF(pos), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &drop);
    return drop.isAccepted();
}

QStringList listed(const QListWidget *list)
{
    QStringList items;
    for (int i = 0; i < list->count(); ++i)
        items.append(list->item(i)->text());
    return items;
}

QString quoted(const QString &s)
{
    return u'"' + s + u'"';
}

// A Lua task that appends its name to `orderFile` and ends.
QByteArray appendName(const QString &orderFile)
{
    return QStringLiteral("local f = assert(io.open(%1, 'a'))\nf:write(task.name, '\\n')\n"
                          "f:close()\n")
        .arg(quoted(orderFile))
        .toUtf8();
}

TaskSpec named(TaskSpec spec, const QString &name)
{
    spec.name = name;
    return spec;
}

// Exports as File > Export does and waits for the file: whether it was written.
bool exported(MainWindow &window, const QString &path, QString *error = nullptr)
{
    auto result = std::make_shared<std::optional<std::pair<bool, QString>>>();
    window.taskView()->exportTasks(path, [result](bool written, const QString &why) {
        *result = std::make_pair(written, why);
    });
    if (!QTest::qWaitFor([&] { return result->has_value(); }, 10000))
        return false;
    if (error)
        *error = (*result)->second;
    return (*result)->first;
}

bool allFinished(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (!isFinished(stateOf(engine, id)))
            return false;
    return true;
}

// Rows the model shows as finished. Tasks end in any order and the model hears of each
// in its own batch: wait for the count, not for one row.
int finishedRows(const TaskTableModel *model)
{
    int n = 0;
    for (int row = 0; row < model->rowCount(); ++row)
        n += isFinished(model->row(row).state) ? 1 : 0;
    return n;
}

// A task of an earlier run as the task store hands it back: a Lua task of `file` whose
// definition returns 1 (so that running it again succeeds), left in `state`.
RestoredTask restored(TaskId id, TaskState state, const QString &file,
                      const QString &group = QStringLiteral("default"))
{
    TaskSpec spec;
    spec.file = file;
    spec.kind = ScriptKind::Lua;
    spec.name = QStringLiteral("history %1").arg(id);
    spec.group = group;
    spec.source = "return 1\n";
    RestoredTask task;
    task.spec = std::make_shared<const TaskSpec>(spec);
    TaskSnapshot &s = task.snapshot;
    s.id = id;
    s.state = state;
    s.priority = int(id % 5);
    s.submittedAtMs = QDateTime::currentMSecsSinceEpoch() - 3600 * 1000;
    if (state != TaskState::Pending) {
        s.attempt = 1;
        s.startedAtMs = s.submittedAtMs + 1000;
    }
    if (isFinished(state))
        s.finishedAtMs = s.startedAtMs + 2500;
    if (state == TaskState::Succeeded)
        s.result = 1;
    if (state == TaskState::Interrupted) {
        // Where it was when Taskdeck stopped: fetch() waiting at line 2, called at line 4.
        auto stack = std::make_shared<CoroutineStack>();
        stack->frames = {{file, 2, QStringLiteral("fetch")}, {file, 4, QString()}};
        stack->awaiting = QStringLiteral("sleep(5)");
        stack->awaitingSinceMs = s.startedAtMs + 500;
        s.stack = stack;
        s.progress = 0.5;
    }
    task.log = {QStringLiteral("a line from the earlier run")};
    return task;
}

QList<TaskId> shownIds(const QAbstractItemModel *model)
{
    QList<TaskId> ids;
    for (int r = 0; r < model->rowCount(); ++r)
        ids.append(model->index(r, 0).data(TaskTableModel::IdRole).value<TaskId>());
    return ids;
}

void selectRows(MainWindow &window, const QList<TaskId> &ids)
{
    QItemSelectionModel *selection = window.taskView()->selectionModel();
    selection->clearSelection();
    for (TaskId id : ids) {
        const int row = window.taskModel()->rowOf(id);
        const QModelIndex index = window.filterModel()->mapFromSource(
            window.taskModel()->index(row, TaskTableModel::Name));
        selection->select(index, QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Answers the next modal dialog (a QuitDialog or a confirmation) by clicking the button
// named `button`, as the user would.
void answerDialog(const QString &button)
{
    auto *timer = new QTimer;
    timer->setInterval(20);
    QObject::connect(timer, &QTimer::timeout, [timer, button] {
        QWidget *modal = QApplication::activeModalWidget();
        auto *box = qobject_cast<QMessageBox *>(modal);
        if (!box)
            return;
        if (auto *b = box->findChild<QPushButton *>(button))
            QTest::mouseClick(b, Qt::LeftButton);
        timer->stop();
        timer->deleteLater();
    });
    timer->start();
}

} // namespace

class tst_MainWindow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void droppedFilesAndFoldersAreSubmittedAndRejectionsListed()
    {
        ScriptDir dir;
        const QString good = dir.write("good.lua", "return 1\n");
        const QString bad = dir.write("bad.lua", "-- @bogus 3\nreturn 1\n");
        QDir(dir.path()).mkpath("folder/sub");
        dir.write("folder/a.lua", "return 'a'\n");
        dir.write("folder/sub/b.lua", "return 'b'\n");
        Engine engine;
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));

        QVERIFY(dropFiles(&window, {good, bad}));
        QTRY_COMPARE(engine.tasks().size(), 1);
        QCOMPARE(engine.tasks().constFirst().file, good);
        QTRY_VERIFY(window.rejectedFilesDock()->isVisible());
        const QStringList rejected = listed(window.rejectedFiles());
        QCOMPARE(rejected.size(), 1);
        QVERIFY2(rejected[0].contains("bad.lua:1:") && rejected[0].contains("bogus"),
                 qPrintable(rejected[0]));

        // Dropped on the table, a folder brings in the files below it.
        QVERIFY(dropFiles(window.taskView()->viewport(), {dir.path() + "/folder"}));
        QTRY_COMPARE(engine.tasks().size(), 3);
        QStringList names;
        for (const TaskSnapshot &t : engine.tasks())
            names.append(QFileInfo(t.file).fileName());
        QCOMPARE(names, QStringList({"good.lua", "a.lua", "b.lua"}));
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        QCOMPARE(listed(window.rejectedFiles()).size(), 1);
    }

    void clickingARowsCancelButtonCancelsItsTask()
    {
        ScriptDir dir;
        // Swallows the first cancellation, so the row shows its grace countdown.
        const TaskSpec spec = dir.spec("stubborn.lua", "pcall(sleep, 30)\nsleep(30)\n");
        Engine engine(Engine::Options{.gracePeriodMs = 3000, .publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.taskModel()->setGracePeriodMs(3000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        TaskTableModel *model = window.taskModel();
        QTRY_VERIFY(model->rowOf(id) >= 0 &&
                    model->row(model->rowOf(id)).state == TaskState::Running);

        QTableView *view = window.taskView();
        const QModelIndex state = window.filterModel()->mapFromSource(
            model->index(model->rowOf(id), TaskTableModel::State));
        const QRect button = TaskItemDelegate::cancelButtonRect(view->visualRect(state));
        QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::NoModifier, button.center());
        QTRY_VERIFY(model->row(model->rowOf(id)).cancelRequested);
        QVERIFY2(state.data().toString().startsWith("cancelling… ("),
                 qPrintable(state.data().toString()));
        QVERIFY(!state.data(TaskTableModel::CancellableRole).toBool());
        QTRY_COMPARE_WITH_TIMEOUT(stateOf(engine, id), TaskState::Cancelled, 15000);
        QTRY_COMPARE(model->row(model->rowOf(id)).state, TaskState::Cancelled);
    }

    void clickingBesideTheButtonDoesNotCancel()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("sleepy.lua", "sleep(30)\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec});
        TaskTableModel *model = window.taskModel();
        QTRY_COMPARE(model->rowCount(), 2);
        QTableView *view = window.taskView();
        const QModelIndex state = window.filterModel()->index(0, TaskTableModel::State);
        const QRect cell = view->visualRect(state);
        QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::NoModifier,
                          QPoint(cell.left() + 4, cell.center().y()));
        // The second row's button: a pending task is cancelled at once.
        const QRect second =
            view->visualRect(window.filterModel()->index(1, TaskTableModel::State));
        QTest::mouseClick(view->viewport(), Qt::LeftButton, Qt::NoModifier,
                          TaskItemDelegate::cancelButtonRect(second).center());
        QTRY_COMPARE(stateOf(engine, ids[1]), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, ids[0]), TaskState::Pending);
    }

    void editingAPriorityReachesTheEngine()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine;
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(window.taskModel()->rowCount(), 1);
        QAbstractItemModel *model = window.taskView()->model();
        const QModelIndex priority = model->index(0, TaskTableModel::Priority);
        QVERIFY(model->flags(priority) & Qt::ItemIsEditable);
        QVERIFY(model->setData(priority, 7));
        QTRY_COMPARE(engine.task(id)->priority, 7);
        // The engine's batch confirms it.
        QTRY_COMPARE(window.taskModel()->row(0).priority, 7);
    }

    void movingATaskToTheTopByShortcutRunsItFirst()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.limitsPanel()->setMaxRunning(1);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QApplication::setActiveWindow(&window);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{
            named(base, "a"), named(base, "b"), named(base, "c"), named(base, "d")});
        QTRY_COMPARE(window.taskModel()->rowCount(), 4);
        QVERIFY(window.taskView()->selectTask(ids[2]));
        window.taskView()->setFocus();
        QTest::keyClick(window.taskView(), Qt::Key_Home, Qt::AltModifier);
        QVERIFY(window.taskView()->selectTask(ids[0]));
        QTest::keyClick(window.taskView(), Qt::Key_End, Qt::AltModifier);
        // Requests reach the engine in the order they were made: the moves before the resume.
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"c", "b", "d", "a"}));
    }

    void draggingARowOntoAnotherRunsItJustBefore()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c")});
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        QAbstractItemModel *model = window.taskView()->model();
        // The view's drag: mime data from the dragged rows, dropped onto a row.
        std::unique_ptr<QMimeData> mime(model->mimeData({model->index(2, 0)}));
        const QModelIndex target = model->index(0, TaskTableModel::Name);
        QVERIFY(model->canDropMimeData(mime.get(), Qt::MoveAction, -1, -1, target));
        model->dropMimeData(mime.get(), Qt::MoveAction, -1, -1, target);
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"c", "a", "b"}));
    }

    void stackPaneShowsWhatTheSelectedTaskAwaitsAndItsSource()
    {
        ScriptDir dir;
        const TaskSpec spec =
            dir.spec("waiter.lua", "local function nap()\n    sleep(30)\nend\nnap()\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(window.taskView()->selectTask(id));
        QTreeWidget *tree = window.stackPane()->tree();
        const auto findFrame = [tree](const QString &where) -> QTreeWidgetItem * {
            for (QTreeWidgetItemIterator it(tree); *it; ++it)
                if ((*it)->text(1) == where)
                    return *it;
            return nullptr;
        };
        QTRY_VERIFY(findFrame("waiter.lua:2") && findFrame("waiter.lua:4"));
        QTreeWidgetItem *top = tree->topLevelItem(0);
        QVERIFY2(top->text(1).startsWith("awaiting sleep"), qPrintable(top->text(1)));
        QVERIFY(top->text(2).endsWith(" s"));
        QCOMPARE(findFrame("waiter.lua:2")->text(0), QStringLiteral("nap"));
        // Until a frame is clicked, the source shown is where the task waits...
        QPlainTextEdit *sourceView = window.stackPane()->sourceView();
        const auto highlighted = [sourceView] {
            const auto selections = sourceView->extraSelections();
            return selections.size() == 1 ? selections[0].cursor.block().text() : QString();
        };
        QTRY_COMPARE(highlighted(), QStringLiteral("2      sleep(30)"));
        // ...and a click on the caller's frame shows the caller's line.
        QTreeWidgetItem *caller = findFrame("waiter.lua:4");
        tree->scrollToItem(caller);
        QTest::mouseClick(tree->viewport(), Qt::LeftButton, Qt::NoModifier,
                          tree->visualItemRect(caller).center());
        QTRY_COMPARE(highlighted(), QStringLiteral("4  nap()"));
        QVERIFY(sourceView->toPlainText().contains("local function nap()"));
        engine.cancel(id);
    }

    void stackPaneShowsAProcessTasksProcessTree()
    {
        ScriptDir dir;
        const QString script = dir.write("tree.sh", "#!/bin/sh\nsleep 30 &\nwait\n", true);
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        QCOMPARE(window.submitFiles({script}), 1);
        QTRY_VERIFY(engine.tasks().size() == 1 &&
                    window.taskView()->selectTask(engine.tasks().constFirst().id));
        QTreeWidget *tree = window.stackPane()->tree();
        const auto showsSleep = [tree] {
            for (QTreeWidgetItemIterator it(tree); *it; ++it)
                if ((*it)->text(0).startsWith("sleep 30"))
                    return (*it)->parent() && (*it)->parent()->text(0).startsWith("process ");
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(showsSleep(), 10000);
        QVERIFY(tree->topLevelItem(0)->text(0).startsWith("process "));
        engine.cancelAll();
    }

    void stackPaneSaysWhyAPendingTaskWaits()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine;
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(window.taskView()->selectTask(id));
        QLabel *header = window.stackPane()->findChild<QLabel *>("stackHeader");
        QTRY_VERIFY2(header->text().contains("paused"), qPrintable(header->text()));
    }

    void logPaneFollowsTheSelectedTask()
    {
        ScriptDir dir;
        const QString gate = dir.path() + "/gate";
        const TaskSpec spec =
            dir.spec("talker.lua",
                     QStringLiteral("log('first line')\nwhile not io.open(%1) do sleep(0.01) end\n"
                                    "log('second line')\nsleep(30)\n")
                         .arg(quoted(gate))
                         .toUtf8());
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        const TaskId id = engine.submit(spec);
        QPlainTextEdit *log = window.logPane()->view();
        QTRY_VERIFY(window.taskView()->selectTask(id));
        QTRY_COMPARE(log->toPlainText(), QStringLiteral("first line"));
        QFile(gate).open(QIODevice::WriteOnly);
        QTRY_COMPARE(log->toPlainText(), QStringLiteral("first line\nsecond line"));
        engine.cancel(id);
    }

    // Issue 11: selecting tasks (their stack and log), exporting, re-running, pausing and
    // answering `ps`, `submit` and `cancel` never make the main thread wait for the
    // engine thread (Engine counts blocking look-ups made from it).
    void dashboardNeverWaitsForTheEngine()
    {
        ScriptDir dir;
        const TaskSpec talker = dir.spec("talker.lua", "log('hello')\nsleep(30)\n");
        const TaskSpec quick = dir.spec("quick.lua", "return 1\n");
        TaskSpec held = dir.spec("held.lua", "return 2\n");
        held.group = QStringLiteral("held");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pauseGroup(QStringLiteral("held"));
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        InstanceService service(
            &source, [&window](const QStringList &files) { return window.submitFiles(files); });
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{talker, quick, held});
        TaskTableModel *model = window.taskModel();
        const auto stateInTable = [model](TaskId id) {
            const int row = model->rowOf(id);
            return row < 0 ? TaskState::Pending : model->row(row).state;
        };
        QTRY_COMPARE(stateInTable(ids[1]), TaskState::Succeeded);
        QTRY_COMPARE(stateInTable(ids[0]), TaskState::Running);
        const int lookUps = Engine::mainThreadLookUps();

        // The running task: its log and its live stack.
        QVERIFY(window.taskView()->selectTask(ids[0]));
        QTRY_COMPARE(window.logPane()->view()->toPlainText(), QStringLiteral("hello"));
        QTreeWidget *tree = window.stackPane()->tree();
        const auto showsLine = [tree](const QString &where) {
            for (QTreeWidgetItemIterator it(tree); *it; ++it)
                if ((*it)->text(1) == where)
                    return true;
            return false;
        };
        QTRY_VERIFY(showsLine(QStringLiteral("talker.lua:2")));
        // The pending one: why it waits.
        QLabel *header = window.stackPane()->findChild<QLabel *>("stackHeader");
        QVERIFY(window.taskView()->selectTask(ids[2]));
        QTRY_VERIFY2(header->text().contains("paused"), qPrintable(header->text()));
        // The finished one: exported, re-run.
        QVERIFY(window.taskView()->selectTask(ids[1]));
        QTRY_VERIFY2(header->text().contains("#" + QString::number(ids[1])),
                     qPrintable(header->text()));
        QVERIFY(exported(window, dir.path() + "/out.jsonl"));
        QCOMPARE(window.taskView()->rerunSelected(), 1);
        window.setPaused(true);
        QTRY_VERIFY(source.limits().paused);
        window.setPaused(false);

        // The commands of the instance socket.
        auto replies = std::make_shared<QList<QJsonObject>>();
        const auto keep = [replies](const QByteArray &line) {
            replies->append(QJsonDocument::fromJson(line).object());
        };
        InstanceProtocol::Request ps;
        ps.command = InstanceProtocol::Command::Ps;
        ps.stacks = true;
        service.handle(ps, keep);
        InstanceProtocol::Request submit;
        submit.command = InstanceProtocol::Command::Submit;
        submit.files = {quick.file};
        service.handle(submit, keep);
        InstanceProtocol::Request cancel;
        cancel.command = InstanceProtocol::Command::Cancel;
        cancel.ids = {ids[2], 999};
        service.handle(cancel, keep);
        QTRY_COMPARE(replies->size(), 3);
        for (const QJsonObject &reply : std::as_const(*replies))
            QVERIFY2(reply.value("ok").toBool(), QJsonDocument(reply).toJson().constData());
        QJsonObject listed;
        QJsonObject cancelled;
        for (const QJsonObject &reply : std::as_const(*replies)) {
            if (reply.contains("tasks"))
                listed = reply;
            if (reply.contains("cancelled"))
                cancelled = reply;
        }
        const QJsonArray tasks = listed.value("tasks").toArray();
        QVERIFY(tasks.size() >= 3);
        QCOMPARE(tasks.at(0).toObject().value("id").toInteger(), qint64(ids[0]));
        QVERIFY(tasks.at(0).toObject().value("stack").isObject());
        QVERIFY(tasks.at(2).toObject().value("waiting").toString().contains("paused"));
        QCOMPARE(cancelled.value("cancelled").toArray(), QJsonArray{qint64(ids[2])});
        QCOMPARE(cancelled.value("unknown").toArray(), QJsonArray{999});

        QCOMPARE(Engine::mainThreadLookUps(), lookUps);
        engine.cancelAll();
    }

    // Issue 11: the limits panel shows the engine's limits and paused state, also when
    // something other than the panel changed them.
    void limitsPanelShowsWhatTheEngineSays()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        engine.pause();
        engine.pauseGroup(QStringLiteral("net"));
        engine.setMaxRunning(5);
        engine.setGroupLimit(QStringLiteral("io"), 3);
        QTRY_VERIFY(window.limitsPanel()->isPaused());
        QTRY_VERIFY(window.limitsPanel()->isGroupPaused(QStringLiteral("net")));
        QTRY_COMPARE(window.limitsPanel()->maxRunning(), 5);
        QTRY_COMPARE(window.limitsPanel()->groupLimit(QStringLiteral("io")), 3);
        auto *paused = window.findChild<QLabel *>("statusPaused");
        QVERIFY2(paused->text().contains("Queue paused"), qPrintable(paused->text()));
        engine.resume();
        engine.resumeGroup(QStringLiteral("net"));
        QTRY_VERIFY(!window.limitsPanel()->isPaused());
        QTRY_VERIFY(!window.limitsPanel()->isGroupPaused(QStringLiteral("net")));
        QTRY_VERIFY2(paused->text().isEmpty(), qPrintable(paused->text()));
    }

    void countsShowTheEnginesBatches()
    {
        ScriptDir dir;
        const TaskSpec ok = dir.spec("ok.lua", "return 1\n");
        const TaskSpec bad = dir.spec("bad.lua", "error('no')\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        engine.submit(QList<TaskSpec>{ok, ok, bad});
        QLabel *succeeded = window.findChild<QLabel *>("succeededCount");
        QLabel *failed = window.findChild<QLabel *>("failedCount");
        QTRY_VERIFY2(succeeded->text().contains(">2<"), qPrintable(succeeded->text()));
        QTRY_VERIFY2(failed->text().contains(">1<"), qPrintable(failed->text()));
    }

    void layoutAndLimitsPersist()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("taskdeck-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_mainwindow"));
        QSettings().clear();
        Engine engine;
        {
            LocalTaskSource source(&engine);
            MainWindow window(&source);
            window.restoreSettings();
            window.show();
            window.limitsPanel()->setMaxRunning(3);
            window.limitsPanel()->setGroupLimit(QStringLiteral("net/io"), 2);
            window.taskView()->horizontalHeader()->resizeSection(TaskTableModel::Name, 333);
            window.close();
        }
        LocalTaskSource againSource(&engine);
        MainWindow again(&againSource);
        QCOMPARE(again.limitsPanel()->maxRunning(), Engine::Options().maxRunning);
        again.restoreSettings();
        QCOMPARE(again.limitsPanel()->maxRunning(), 3);
        QCOMPARE(again.limitsPanel()->groupLimit(QStringLiteral("net/io")), 2);
        QCOMPARE(again.taskView()->horizontalHeader()->sectionSize(TaskTableModel::Name), 333);
        QSettings().clear();
    }

    void everyActionHasAShortcut()
    {
        Engine engine;
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        QStringList missing;
        QSet<QKeySequence> seen;
        for (QAction *menu : window.menuBar()->actions()) {
            for (QAction *action : menu->menu()->actions()) {
                if (action->isSeparator() || action->objectName() == "actionAbout")
                    continue;
                if (action->shortcut().isEmpty())
                    missing.append(action->text());
                else
                    QVERIFY2(!seen.contains(action->shortcut()),
                             qPrintable(action->shortcut().toString()));
                seen.insert(action->shortcut());
            }
        }
        QVERIFY(seen.size() >= 15);
        QVERIFY2(missing.isEmpty(), qPrintable(missing.join(", ")));
    }

    void clearFinishedAndRetryFailed()
    {
        ScriptDir dir;
        const TaskSpec ok = dir.spec("ok.lua", "return 1\n");
        const TaskSpec bad = dir.spec("bad.lua", "error('no')\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{ok, bad});
        QTRY_VERIFY(allFinished(engine, ids));
        TaskTableModel *model = window.taskModel();
        QTRY_VERIFY(model->rowCount() == 2 && finishedRows(model) == 2);
        window.taskView()->retryFailed();
        // A new task from the same script; the failed row stays, with its error, linked.
        QTRY_COMPARE(engine.tasks().size(), 3);
        QCOMPARE(engine.tasks().last().file, bad.file);
        QTRY_COMPARE(model->rowCount(), 3);
        const TaskId retry = engine.tasks().last().id;
        QTRY_COMPARE(model->retriedAs(ids[1]), retry);
        QVERIFY(model->index(model->rowOf(ids[1]), TaskTableModel::Result)
                    .data()
                    .toString()
                    .startsWith(QStringLiteral("retried as #%1: ").arg(retry)));
        QTRY_COMPARE(finishedRows(model), 3);
        // Retried once: not again.
        window.taskView()->retryFailed();
        QTRY_COMPARE(model->retriedAs(retry) != 0, true);
        QTRY_COMPARE(finishedRows(model), 4);
        QCOMPARE(engine.tasks().size(), 4);
        window.taskView()->clearFinished();
        QCOMPARE(model->rowCount(), 0);
        // Cleared: no longer counted or listed by the engine either (what `ps` lists).
        QTRY_COMPARE(engine.tasks().size(), 0);
        QTRY_COMPARE(source.counts().total(), 0);
    }

    void interruptedTaskOfAnEarlierRunIsShownCountedAndFiltered()
    {
        ScriptDir dir;
        const QString file = dir.write("fetch.lua", "local function fetch()\n    sleep(5)\n"
                                                    "end\nfetch()\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        engine.restore({restored(7, TaskState::Interrupted, file),
                        restored(8, TaskState::Cancelled, file),
                        restored(9, TaskState::Succeeded, file)});
        TaskTableModel *model = window.taskModel();
        QTRY_COMPARE(model->rowCount(), 3);

        const QModelIndex state = model->index(model->rowOf(7), TaskTableModel::State);
        QCOMPARE(state.data().toString(), QStringLiteral("interrupted"));
        QCOMPARE(state.data(Qt::DecorationRole).value<QIcon>().cacheKey(),
                 StateStyle::icon(TaskState::Interrupted).cacheKey());
        // Finished: no cancel button on its row.
        QVERIFY(!state.data(TaskTableModel::CancellableRole).toBool());

        auto *interrupted = window.findChild<QLabel *>("interruptedCount");
        auto *cancelled = window.findChild<QLabel *>("cancelledCount");
        QTRY_VERIFY2(interrupted->text().contains(">1<"), qPrintable(interrupted->text()));
        QVERIFY(interrupted->isVisible());
        QVERIFY2(cancelled->text().contains(">1<"), qPrintable(cancelled->text()));

        auto *filter = window.findChild<QComboBox *>("filterState");
        filter->setCurrentIndex(filter->findText("Interrupted"));
        QCOMPARE(shownIds(window.filterModel()), QList<TaskId>{7});
        filter->setCurrentIndex(filter->findText("Cancelled"));
        QCOMPARE(shownIds(window.filterModel()), QList<TaskId>{8});
        filter->setCurrentIndex(filter->findText("All states"));

        // The stack pane shows where it was when Taskdeck stopped, and its source.
        QVERIFY(window.taskView()->selectTask(7));
        QTreeWidget *tree = window.stackPane()->tree();
        QTRY_COMPARE(tree->topLevelItemCount(), 1);
        QCOMPARE(tree->topLevelItem(0)->text(1), QStringLiteral("awaiting sleep(5)"));
        // How long it had waited when Taskdeck stopped, not until now.
        QCOMPARE(tree->topLevelItem(0)->text(2), QStringLiteral("2.0 s"));
        QCOMPARE(tree->topLevelItem(0)->child(0)->text(1), QStringLiteral("fetch.lua:2"));
        QCOMPARE(tree->topLevelItem(0)->child(0)->text(0), QStringLiteral("fetch"));
        QTRY_VERIFY(window.stackPane()->sourceView()->toPlainText().contains("sleep(5)"));
        QTRY_COMPARE(window.logPane()->view()->toPlainText(),
                     QStringLiteral("a line from the earlier run"));
    }

    void textFilterFindsAHistoryTaskByAWordOfItsError()
    {
        ScriptDir dir;
        const QString file = dir.write("pay.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        RestoredTask failed = restored(3, TaskState::Failed, file);
        failed.snapshot.error = QStringLiteral("pay.lua:1: request failed\nstack traceback:\n"
                                               "\t[C]: in checkout_gateway");
        engine.restore({restored(1, TaskState::Succeeded, file),
                        restored(2, TaskState::Failed, file), failed});
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        auto *text = window.findChild<QLineEdit *>("filterText");
        QTest::keyClicks(text, "checkout_GATEWAY");
        QCOMPARE(shownIds(window.filterModel()), QList<TaskId>{3});
        text->clear();
        QCOMPARE(window.filterModel()->rowCount(), 3);
    }

    void rerunRunsAFinishedTaskAgainAsANewTaskAndKeepsItsRow()
    {
        ScriptDir dir;
        const QString file = dir.write("job.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QApplication::setActiveWindow(&window);
        window.setGroupPaused(QStringLiteral("held"), true);
        engine.restore({restored(4, TaskState::Interrupted, file),
                        restored(5, TaskState::Pending, file, QStringLiteral("held"))});
        TaskTableModel *model = window.taskModel();
        QTRY_COMPARE(model->rowCount(), 2);
        auto *rerun = window.findChild<QAction *>("actionRerun");
        QVERIFY(rerun->shortcut() == QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
        QVERIFY(window.taskContextMenu()->actions().contains(rerun));

        // A pending task cannot be re-run; the interrupted one can.
        QVERIFY(window.taskView()->selectTask(5));
        QVERIFY(!rerun->isEnabled());
        QVERIFY(window.taskView()->selectTask(4));
        QVERIFY(rerun->isEnabled());
        window.taskView()->setFocus();
        QTest::keyClick(window.taskView(), Qt::Key_R, Qt::ControlModifier | Qt::ShiftModifier);
        QTRY_COMPARE(engine.tasks().size(), 3);
        const TaskSnapshot again = engine.tasks().constLast();
        QVERIFY(again.id > 5);
        QCOMPARE(again.file, file);
        QTRY_COMPARE(stateOf(engine, again.id), TaskState::Succeeded);
        QTRY_VERIFY(model->rowOf(again.id) >= 0 &&
                    model->row(model->rowOf(again.id)).state == TaskState::Succeeded);
        // The old row stays, as history.
        QCOMPARE(model->row(model->rowOf(4)).state, TaskState::Interrupted);
        QCOMPARE(model->rowCount(), 3);
    }

    void rerunInAPausedGroupSaysWhyItWaitsUntilTheGroupIsResumed()
    {
        ScriptDir dir;
        const QString file = dir.write("job.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        // What the app does after a restart that found interrupted tasks: their group is
        // paused before they come back.
        window.setGroupPaused(QStringLiteral("net"), true);
        engine.restore({restored(1, TaskState::Interrupted, file, QStringLiteral("net")),
                        restored(2, TaskState::Pending, file, QStringLiteral("net"))});
        QTRY_COMPARE(window.taskModel()->rowCount(), 2);
        QVERIFY(window.limitsPanel()->isVisible());
        QVERIFY(window.limitsPanel()->isGroupPaused(QStringLiteral("net")));
        auto *paused = window.findChild<QLabel *>("statusPaused");
        QVERIFY2(paused->text().contains("net"), qPrintable(paused->text()));
        QVERIFY(engine.waitReason(2).contains("paused"));

        QVERIFY(window.taskView()->selectTask(1));
        QCOMPARE(window.taskView()->rerunSelected(), 1);
        const QList<TaskId> again{3}; // after the restored 1 and 2
        QVERIFY2(window.statusBar()->currentMessage().contains("group net is paused"),
                 qPrintable(window.statusBar()->currentMessage()));
        QTRY_COMPARE(engine.tasks().size(), 3);
        QCOMPARE(stateOf(engine, again[0]), TaskState::Pending);

        // Unticking the group's box in the limits panel resumes it.
        auto *box = window.limitsPanel()->findChild<QCheckBox *>("paused:net");
        QVERIFY(box && box->isChecked());
        QTest::keyClick(box, Qt::Key_Space);
        QVERIFY(!box->isChecked());
        QTRY_COMPARE(stateOf(engine, again[0]), TaskState::Succeeded);
        QTRY_COMPARE(stateOf(engine, 2), TaskState::Succeeded);
        QVERIFY2(paused->text().isEmpty(), qPrintable(paused->text()));
    }

    void exportWritesTheSelectedTasksAsJsonLines()
    {
        ScriptDir dir;
        const QString file = dir.write("job.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        RestoredTask failed = restored(2, TaskState::Failed, file, QStringLiteral("net"));
        failed.snapshot.error = QStringLiteral("job.lua:1: \"quoted\", and\nsecond line");
        engine.restore({restored(1, TaskState::Succeeded, file), failed,
                        restored(3, TaskState::Interrupted, file)});
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        selectRows(window, {3, 2});
        QCOMPARE(window.taskView()->tasksToExport(), QList<TaskId>({2, 3}));

        const QString path = dir.path() + "/out.jsonl";
        QVERIFY(exported(window, path));
        QVERIFY2(window.statusBar()->currentMessage().startsWith("Exported 2 task"),
                 qPrintable(window.statusBar()->currentMessage()));
        const QList<QByteArray> lines = readAll(path).split('\n');
        QCOMPARE(lines.size(), 3); // two objects, then the final newline
        QVERIFY(lines[2].isEmpty());
        QList<QJsonObject> objects;
        for (qsizetype i = 0; i < 2; ++i) {
            QJsonParseError error;
            const QJsonDocument doc = QJsonDocument::fromJson(lines[i], &error);
            QVERIFY2(doc.isObject(), qPrintable(error.errorString()));
            objects.append(doc.object());
        }
        const QJsonObject &f = objects[0];
        QCOMPARE(f["id"].toInteger(), 2);
        QCOMPARE(f["name"].toString(), QStringLiteral("history 2"));
        QCOMPARE(f["file"].toString(), file);
        QCOMPARE(f["group"].toString(), QStringLiteral("net"));
        QCOMPARE(f["priority"].toInt(), 2);
        QCOMPARE(f["state"].toString(), QStringLiteral("failed"));
        QCOMPARE(f["error"].toString(), failed.snapshot.error);
        QCOMPARE(f["attempts"].toInt(), 1);
        QVERIFY(f["progress"].isNull());
        QCOMPARE(f["duration_s"].toDouble(), 2.5);
        QVERIFY(f["started_at"].toString().endsWith(u'Z'));
        const QJsonObject &i = objects[1];
        QCOMPARE(i["id"].toInteger(), 3);
        QCOMPARE(i["state"].toString(), QStringLiteral("interrupted"));
        QCOMPARE(i["progress"].toDouble(), 0.5);
        const QJsonArray frames = i["stack"].toObject()["frames"].toArray();
        QCOMPARE(frames.size(), 2);
        QCOMPARE(frames[0].toObject()["function"].toString(), QStringLiteral("fetch"));
        QCOMPARE(i["stack"].toObject()["awaiting"].toString(), QStringLiteral("sleep(5)"));
    }

    void exportWritesTheShownTasksAsCsvThatReadsBackTheSame()
    {
        ScriptDir dir;
        const QString file = dir.write("a,b \"c\".lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        const QString message = QStringLiteral("bad \"input\", line 2\r\nthen, \"\"more\"\"\nend");
        RestoredTask failed = restored(2, TaskState::Failed, file);
        failed.snapshot.error = message;
        RestoredTask ok = restored(3, TaskState::Succeeded, file);
        ok.snapshot.result = QJsonObject{{QStringLiteral("n"), 3}};
        engine.restore({restored(1, TaskState::Cancelled, file), failed, ok});
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        // No selection: every task the filters show, in the table's order.
        window.taskView()->sortByColumn(TaskTableModel::Id, Qt::DescendingOrder);
        window.taskView()->clearSelection();
        auto *filter = window.findChild<QComboBox *>("filterState");
        filter->setCurrentIndex(filter->findText("Failed"));
        QCOMPARE(window.taskView()->tasksToExport(), QList<TaskId>({2}));
        filter->setCurrentIndex(filter->findText("Finished"));
        QCOMPARE(window.taskView()->tasksToExport(), QList<TaskId>({3, 2, 1}));

        const QString path = dir.path() + "/out.CSV";
        QVERIFY(exported(window, path));
        const QByteArray bytes = readAll(path);
        QVERIFY(bytes.endsWith("\r\n"));
        const QList<QStringList> records = parseCsv(QString::fromUtf8(bytes));
        QCOMPARE(records.size(), 4);
        QCOMPARE(records[0],
                 QStringList({"id", "name", "file", "group", "priority", "state", "attempt",
                              "started_at", "finished_at", "duration_s", "result", "error"}));
        for (const QStringList &r : records)
            QCOMPARE(r.size(), 12);
        QCOMPARE(records[1][0], QStringLiteral("3"));
        QCOMPARE(records[1][2], file);
        QCOMPARE(records[1][5], QStringLiteral("succeeded"));
        QCOMPARE(records[1][9], QStringLiteral("2.500"));
        QCOMPARE(records[1][10], QStringLiteral("{\"n\":3}"));
        QCOMPARE(records[2][0], QStringLiteral("2"));
        QCOMPARE(records[2][5], QStringLiteral("failed"));
        QCOMPARE(records[2][11], message);
        QCOMPARE(records[3][5], QStringLiteral("cancelled"));
        QVERIFY(records[3][7].endsWith(u'Z'));
    }

    void exportToAnUnwritablePlaceSaysWhyAndKeepsGoing()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        engine.restore({restored(1, TaskState::Succeeded, dir.write("t.lua", "return 1\n"))});
        QTRY_COMPARE(window.taskModel()->rowCount(), 1);
        QString error;
        QVERIFY(!exported(window, dir.path() + "/no/such/dir/out.csv", &error));
        QVERIFY(!error.isEmpty());
        QVERIFY2(window.statusBar()->currentMessage().startsWith("Cannot export to "),
                 qPrintable(window.statusBar()->currentMessage()));
        QVERIFY(exported(window, dir.path() + "/out.csv"));
    }

    void noticesShowUntilDismissed()
    {
        Engine engine;
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        NoticeBar *bar = window.noticeBar();
        QVERIFY(!bar->isVisible());
        const QString corrupt =
            QStringLiteral("taskdeck.db was corrupt; moved aside to taskdeck.db.corrupt-20261121");
        const QString restoredText = QStringLiteral("Restored 12 pending tasks and 340 finished");
        window.showNotice(corrupt);
        window.showNotice(restoredText);
        window.showNotice(corrupt); // shown already: not twice
        QVERIFY(bar->isVisible());
        QCOMPARE(bar->notices(), QStringList({corrupt, restoredText}));
        const QList<QLabel *> labels = bar->findChildren<QLabel *>("noticeText");
        QCOMPARE(labels.size(), 2);
        QVERIFY(labels[0]->isVisible());
        QCOMPARE(labels[0]->text(), corrupt);

        QList<QToolButton *> close = bar->findChildren<QToolButton *>("dismissNotice");
        QCOMPARE(close.size(), 2);
        QTest::mouseClick(close[0], Qt::LeftButton);
        QCOMPARE(bar->notices(), QStringList({restoredText}));
        QVERIFY(bar->isVisible());
        QTest::mouseClick(close[1], Qt::LeftButton);
        QVERIFY(bar->notices().isEmpty());
        QVERIFY(!bar->isVisible());
    }

    // A store that cannot write (a full disk: a file size limit) is an error at the top of
    // the window that the user cannot dismiss, and it goes once the store writes again.
    void storeThatCannotWriteIsAnErrorUntilItWritesAgain()
    {
        QTemporaryDir data;
        TaskStore store;
        QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
        store.recover();
        Engine engine;
        LocalTaskSource source(&engine);
        source.setStore(&store);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        NoticeBar *bar = window.noticeBar();
        window.showNotice(QStringLiteral("an earlier notice"));
        TaskSpec big;
        big.file = "/x/big.lua";
        big.source = QByteArray(4 * 1024 * 1024, 'x');
        auto shared = std::make_shared<const TaskSpec>(big);
        {
            FileSizeLimit full(1024 * 1024);
            QVERIFY(full.isSet());
            store.submitted({1}, {shared}, 1);
            QVERIFY(!store.sync());
        }
        QTRY_COMPARE(bar->errors().size(), 1);
        const QString error = bar->errors().constFirst();
        QVERIFY2(error.startsWith(QStringLiteral("Tasks are not being saved: cannot write the "
                                                 "task store %1: ")
                                      .arg(store.path())),
                 qPrintable(error));
        QVERIFY(bar->isVisible());
        QCOMPARE(bar->notices(), QStringList{QStringLiteral("an earlier notice")});
        // A frame added to a shown bar is shown by a queued call of its layout.
        QTRY_VERIFY(bar->findChild<QLabel *>("errorText")->isVisible());
        // Above the notices, and no close button of its own.
        QFrame *errorFrame = bar->findChild<QFrame *>("error");
        QVERIFY(errorFrame);
        QVERIFY(errorFrame->findChildren<QToolButton *>("dismissNotice").isEmpty());
        QVERIFY(errorFrame->y() < bar->findChild<QFrame *>("notice")->y());
        bar->dismissAll();
        QCOMPARE(bar->errors().size(), 1);
        QVERIFY(bar->isVisible());

        QVERIFY(store.sync()); // the limit is gone: what failed is written
        QTRY_VERIFY(bar->errors().isEmpty());
        QVERIFY(!bar->isVisible());
        source.setStore(nullptr);
    }

    void clearFinishedWithAStoreForgetsTheClearedTasks()
    {
        ScriptDir dir;
        QTemporaryDir data;
        const TaskSpec ok = dir.spec("ok.lua", "return 1\n");
        TaskSpec held = ok;
        held.group = QStringLiteral("held");
        QList<TaskId> finished;
        TaskId pending = 0;
        {
            TaskStore store;
            QCOMPARE(store.open(data.path()).status, TaskStore::OpenStatus::Opened);
            store.recover();
            Engine engine(Engine::Options{.publishIntervalMs = 20});
            engine.setJournal(&store);
            LocalTaskSource source(&engine);
            source.setStore(&store); // what forget() reaches
            MainWindow window(&source);
            window.setGroupPaused(QStringLiteral("held"), true);
            finished = engine.submit(QList<TaskSpec>{ok, ok});
            pending = engine.submit(held);
            QTRY_VERIFY(allFinished(engine, finished));
            TaskTableModel *model = window.taskModel();
            QTRY_VERIFY(model->rowCount() == 3 && finishedRows(model) == 2);
            window.taskView()->clearFinished();
            QCOMPARE(model->rowCount(), 1);
            store.sync();
        }
        TaskStore again;
        QCOMPARE(again.open(data.path()).status, TaskStore::OpenStatus::Opened);
        QList<TaskId> ids;
        for (const RestoredTask &task : again.recover().tasks)
            ids.append(task.snapshot.id);
        QCOMPARE(ids, QList<TaskId>{pending});
    }

    void quittingWithRunningTasksAsksAndWaitsForThem()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("hang.lua", "sleep(60)\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.setConfirmQuit(true);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(isSuspended(engine, id));
        QTRY_COMPARE(source.counts().running, 1);
        QTest::qWait(100); // the window's batch too

        // "Don't quit": nothing changes.
        answerDialog("quitStay");
        QVERIFY(!window.close());
        QVERIFY(window.isVisible());
        QVERIFY(!engine.task(id)->cancelRequested);

        // Ctrl+Q, "Wait for them": the queue pauses, the window stays until the task ends.
        answerDialog("quitWait");
        QApplication::setActiveWindow(&window);
        QTest::keyClick(&window, Qt::Key_Q, Qt::ControlModifier);
        QTRY_VERIFY(window.isQuitting());
        QVERIFY(window.isVisible());
        QTRY_VERIFY(window.limitsPanel()->isPaused());
        engine.cancel(id);
        QTRY_VERIFY_WITH_TIMEOUT(!window.isVisible(), 10000);
    }

    void quittingAndCancellingCancelsOnlyTheRunningTasks()
    {
        ScriptDir dir;
        const TaskSpec hang = dir.spec("hang.lua", "sleep(60)\n");
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.setConfirmQuit(true);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{hang, hang});
        QTRY_VERIFY(isSuspended(engine, ids[0]));
        QTRY_COMPARE(window.countsBar()->findChild<QLabel *>("activeCount")->text().contains(">1<"),
                     true);
        answerDialog("quitCancel");
        QVERIFY(!window.close());
        QTRY_VERIFY_WITH_TIMEOUT(!window.isVisible(), 10000);
        QCOMPARE(stateOf(engine, ids[0]), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, ids[1]), TaskState::Pending); // comes back at the next start
    }

    void destructiveActionsAskFirstAndReport()
    {
        ScriptDir dir;
        const TaskSpec ok = dir.spec("ok.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const QList<TaskId> done = engine.submit(QList<TaskSpec>{ok, ok});
        QTRY_VERIFY(allFinished(engine, done));
        QTRY_COMPARE(finishedRows(window.taskModel()), 2);
        // Clear finished: "Cancel" keeps everything.
        QTimer::singleShot(100, [] {
            if (auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget()))
                box->reject();
        });
        window.taskView()->action(TaskView::ClearFinished)->trigger();
        QCOMPARE(window.taskModel()->rowCount(), 2);
        answerDialog("confirmYes");
        window.taskView()->action(TaskView::ClearFinished)->trigger();
        QCOMPARE(window.taskModel()->rowCount(), 0);

        // Cancel all pending, from the filter box (Ctrl+Shift+Del; Shift+Del is Cut there):
        // asks, then says how many it cancelled.
        engine.pause();
        const QList<TaskId> pending = engine.submit(QList<TaskSpec>{ok, ok, ok});
        QTRY_COMPARE(window.taskModel()->rowCount(), 3);
        auto *filter = window.findChild<QLineEdit *>("filterText");
        QApplication::setActiveWindow(&window);
        filter->setFocus();
        QTRY_VERIFY(filter->hasFocus());
        answerDialog("confirmYes");
        QTest::keyClick(filter, Qt::Key_Delete, Qt::ControlModifier | Qt::ShiftModifier);
        QTRY_VERIFY(allFinished(engine, pending));
        QVERIFY2(window.statusBar()->currentMessage().contains("Cancelled 3 pending"),
                 qPrintable(window.statusBar()->currentMessage()));
    }

    void pausedGroupsNoticeGoesWhenTheGroupsAreResumed()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.setGroupPaused("net", true);
        window.showPausedGroupsNotice("2 tasks were interrupted; group net is paused", {"net"});
        window.showNotice("something else");
        QCOMPARE(window.noticeBar()->notices().size(), 2);
        window.setGroupPaused("net", false);
        QTRY_COMPARE(window.noticeBar()->notices(), QStringList{"something else"});
    }

    void anEndedTasksStackAndSourceNoLongerLookRunning()
    {
        ScriptDir dir;
        const TaskSpec bad = dir.spec("bad.lua", "sleep(0.5)\nerror('late')\n");
        const TaskSpec ok = dir.spec("ok.lua", "progress(0.55, 'half')\nsleep(1.5)\nreturn 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{bad, ok});
        // Watched while it runs and ends: no line stays marked as where it runs.
        QTRY_VERIFY(window.taskView()->selectTask(ids[1]));
        auto *sourceView = window.stackPane()->findChild<QPlainTextEdit *>("sourceView");
        QTRY_VERIFY(!sourceView->extraSelections().isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QTRY_VERIFY(sourceView->extraSelections().isEmpty());
        QVERIFY(window.taskView()->selectTask(ids[0]));
        QTreeWidget *tree = window.stackPane()->tree();
        QTRY_VERIFY(tree->topLevelItemCount() > 0 &&
                    tree->topLevelItem(0)->icon(0).cacheKey() ==
                        StateStyle::icon(TaskState::Failed).cacheKey());
        // The succeeded one: a full bar, and no line marked as running.
        TaskTableModel *model = window.taskModel();
        QTRY_COMPARE(model->row(model->rowOf(ids[1])).progress, 1.0);
    }

    void processTaskShowsCpuMemoryAndWhatACancelSends()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("busy.sh", "#!/bin/sh\nsleep 30\n");
        QCOMPARE(spec.kind, ScriptKind::Process);
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(stateOf(engine, id), TaskState::Running);
        QTRY_VERIFY(window.taskView()->selectTask(id));
        QTreeWidget *tree = window.stackPane()->tree();
        const auto shows = [tree](const QString &what) {
            for (QTreeWidgetItemIterator it(tree); *it; ++it)
                if ((*it)->text(1).contains(what))
                    return true;
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(shows("RSS") && shows("CPU"), 10000);
        auto *header = window.stackPane()->findChild<QLabel *>("stackHeader");
        QTRY_VERIFY2(header->text().contains("SIGTERM"), qPrintable(header->text()));
        engine.cancel(id);
        QTRY_VERIFY(isFinished(stateOf(engine, id)));
    }

    void trayShowsTheCountsAndNotifiesOnlyOfTasksThatRanAWhile()
    {
        ScriptDir dir;
        const TaskSpec bad = dir.spec("bad.lua", "sleep(0.3)\nerror('quick')\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        TrayIcon *tray = window.trayIcon();
        QSignalSpy notified(tray, &TrayIcon::notified);
        TaskId id = engine.submit(bad);
        QTRY_VERIFY(isFinished(stateOf(engine, id)));
        QTRY_VERIFY2(tray->toolTip().contains("1 failed"), qPrintable(tray->toolTip()));
        QTest::qWait(200);
        QCOMPARE(notified.size(), 0); // ended within seconds: no pop-up by default
        tray->setMinRunMs(0);
        id = engine.submit(bad);
        QTRY_VERIFY(notified.size() >= 1);
        QVERIFY2(notified.first().at(1).toString().contains("quick"),
                 qPrintable(notified.first().at(1).toString()));
        // The queue emptied after a run: said too.
        QTRY_VERIFY(std::any_of(notified.cbegin(), notified.cend(), [](const QList<QVariant> &a) {
            return a.at(0).toString() == "Queue empty";
        }));
    }

    void statsShowThroughputAndMedianAndP95PerGroup()
    {
        StatsPanel stats;
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        EngineUpdate update;
        for (int i = 1; i <= 20; ++i) {
            TaskSnapshot t;
            t.id = TaskId(i);
            t.group = i <= 10 ? "net" : "cpu";
            t.state = TaskState::Succeeded;
            t.submittedAtMs = now - 60000;
            t.startedAtMs = t.submittedAtMs + i * 100; // waited i * 100 ms
            t.finishedAtMs = t.startedAtMs + i * 1000; // ran i s
            update.changed.append(t);
        }
        stats.applyUpdate(update);
        stats.applyUpdate(update); // told twice: counted once
        const auto times = stats.times(now);
        QCOMPARE(times.value("net").ended, 10);
        QCOMPARE(times.value("net").waitMedianMs, 500);
        QCOMPARE(times.value("net").waitP95Ms, 1000);
        QCOMPARE(times.value("cpu").runMedianMs, 15000);
        QCOMPARE(times.value("cpu").runP95Ms, 20000);
        QCOMPARE(times.value(QString()).ended, 20);
        const QList<int> bars = stats.throughput(now, 30);
        QCOMPARE(std::accumulate(bars.cbegin(), bars.cend(), 0), 20);
        stats.refresh();
        QCOMPARE(stats.table()->rowCount(), 3); // all, cpu, net
        QCOMPARE(stats.table()->item(2, 0)->text(), QStringLiteral("net"));
        QCOMPARE(stats.table()->item(2, 2)->text(), QStringLiteral("0.5 s"));
    }

    void draggingFilesOverTheWindowHighlightsIt()
    {
        ScriptDir dir;
        const QString file = dir.write("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QMimeData mime;
        mime.setUrls(urls({file}));
        QWidget *target = window.taskView()->viewport();
        const QPoint pos = target->rect().center();
        QDragEnterEvent enter(pos, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(target, &enter);
        QVERIFY(enter.isAccepted());
        QVERIFY(window.dropOverlay()->isVisible());
        QVERIFY(window.dropOverlay()->text().contains("1 file"));
        QDragLeaveEvent leave;
        QApplication::sendEvent(target, &leave);
        QVERIFY(!window.dropOverlay()->isVisible());
        QVERIFY(dropFiles(target, {file}));
        QVERIFY(!window.dropOverlay()->isVisible());
        QTRY_COMPARE(window.taskModel()->rowCount(), 1);
    }

    void darkColoursCanBeChosenAndAreKept()
    {
        Engine engine;
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        auto *dark = window.findChild<QAction *>("colours_dark");
        QVERIFY(dark);
        dark->trigger();
        QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 80);
        QVERIFY(QApplication::palette().color(QPalette::WindowText).lightness() > 180);
        window.saveSettings();
        QCOMPARE(QSettings().value("view/colours").toString(), QStringLiteral("dark"));
        window.findChild<QAction *>("colours_system")->trigger();
        QVERIFY(QApplication::palette().color(QPalette::Window).lightness() > 80);
        QSettings().remove("view/colours");
    }

    void longLogLinesWrap()
    {
        Engine engine;
        LocalTaskSource source(&engine);
        MainWindow window(&source);
        QCOMPARE(window.logPane()->view()->lineWrapMode(), QPlainTextEdit::WidgetWidth);
    }
};

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
