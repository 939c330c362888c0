// The dashboard window against a real engine (SPEC section 7): files dropped anywhere are
// submitted or listed as rejected, a row's cancel button cancels its task, priorities and
// moves reach the engine and change what it runs, the panes show the selected task.
#include "testsupport.h"

#include "limitspanel.h"
#include "logpane.h"
#include "mainwindow.h"
#include "stackpane.h"
#include "taskfilterproxymodel.h"
#include "taskitemdelegate.h"
#include "tasktablemodel.h"

#include <QApplication>
#include <QDockWidget>
#include <QDropEvent>
#include <QListWidget>
#include <QMimeData>
#include <QHeaderView>
#include <QMenu>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QSettings>
#include <QStandardPaths>
#include <QLabel>
#include <QTableView>
#include <QTextBlock>
#include <QTest>
#include <QTreeWidget>

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

bool allFinished(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (!isFinished(stateOf(engine, id)))
            return false;
    return true;
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
        MainWindow window(&engine);
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
        MainWindow window(&engine);
        window.taskModel()->setGracePeriodMs(3000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        TaskTableModel *model = window.taskModel();
        QTRY_VERIFY(model->rowOf(id) >= 0 && model->row(model->rowOf(id)).state == TaskState::Running);

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
        MainWindow window(&engine);
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
        const QRect second = view->visualRect(window.filterModel()->index(1, TaskTableModel::State));
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
        MainWindow window(&engine);
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
        MainWindow window(&engine);
        window.limitsPanel()->setMaxRunning(1);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QApplication::setActiveWindow(&window);
        const QList<TaskId> ids = engine.submit(
            QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c"), named(base, "d")});
        QTRY_COMPARE(window.taskModel()->rowCount(), 4);
        QVERIFY(window.selectTask(ids[2]));
        window.taskView()->setFocus();
        QTest::keyClick(window.taskView(), Qt::Key_Home, Qt::ControlModifier);
        QVERIFY(window.selectTask(ids[0]));
        QTest::keyClick(window.taskView(), Qt::Key_End, Qt::ControlModifier);
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
        MainWindow window(&engine);
        const QList<TaskId> ids = engine.submit(
            QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c")});
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
        const TaskSpec spec = dir.spec("waiter.lua", "local function nap()\n    sleep(30)\nend\nnap()\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        MainWindow window(&engine);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(window.selectTask(id));
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
        QPlainTextEdit *source = window.stackPane()->sourceView();
        const auto highlighted = [source] {
            const auto selections = source->extraSelections();
            return selections.size() == 1 ? selections[0].cursor.block().text() : QString();
        };
        QTRY_COMPARE(highlighted(), QStringLiteral("2      sleep(30)"));
        // ...and a click on the caller's frame shows the caller's line.
        QTreeWidgetItem *caller = findFrame("waiter.lua:4");
        tree->scrollToItem(caller);
        QTest::mouseClick(tree->viewport(), Qt::LeftButton, Qt::NoModifier,
                          tree->visualItemRect(caller).center());
        QTRY_COMPARE(highlighted(), QStringLiteral("4  nap()"));
        QVERIFY(source->toPlainText().contains("local function nap()"));
        engine.cancel(id);
    }

    void stackPaneShowsAProcessTasksProcessTree()
    {
        ScriptDir dir;
        const QString script = dir.write("tree.sh", "#!/bin/sh\nsleep 30 &\nwait\n", true);
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        MainWindow window(&engine);
        QCOMPARE(window.submitFiles({script}), 1);
        QTRY_VERIFY(engine.tasks().size() == 1
                    && window.selectTask(engine.tasks().constFirst().id));
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
        MainWindow window(&engine);
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(window.selectTask(id));
        QLabel *header = window.stackPane()->findChild<QLabel *>("stackHeader");
        QTRY_VERIFY2(header->text().contains("paused"), qPrintable(header->text()));
    }

    void logPaneFollowsTheSelectedTask()
    {
        ScriptDir dir;
        const QString gate = dir.path() + "/gate";
        const TaskSpec spec = dir.spec(
            "talker.lua", QStringLiteral("log('first line')\nwhile not io.open(%1) do sleep(0.01) end\n"
                                         "log('second line')\nsleep(30)\n")
                              .arg(quoted(gate))
                              .toUtf8());
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        MainWindow window(&engine);
        window.show();
        const TaskId id = engine.submit(spec);
        QPlainTextEdit *log = window.logPane()->view();
        QTRY_VERIFY(window.selectTask(id));
        QTRY_COMPARE(log->toPlainText(), QStringLiteral("first line"));
        QFile(gate).open(QIODevice::WriteOnly);
        QTRY_COMPARE(log->toPlainText(), QStringLiteral("first line\nsecond line"));
        engine.cancel(id);
    }

    void countsShowTheEnginesBatches()
    {
        ScriptDir dir;
        const TaskSpec ok = dir.spec("ok.lua", "return 1\n");
        const TaskSpec bad = dir.spec("bad.lua", "error('no')\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        MainWindow window(&engine);
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
            MainWindow window(&engine);
            window.restoreSettings();
            window.show();
            window.limitsPanel()->setMaxRunning(3);
            window.limitsPanel()->setGroupLimit(QStringLiteral("net/io"), 2);
            window.taskView()->horizontalHeader()->resizeSection(TaskTableModel::Name, 333);
            window.close();
        }
        MainWindow again(&engine);
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
        MainWindow window(&engine);
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
        MainWindow window(&engine);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{ok, bad});
        QTRY_VERIFY(allFinished(engine, ids));
        TaskTableModel *model = window.taskModel();
        QTRY_VERIFY(model->rowCount() == 2 && isFinished(model->row(1).state));
        window.retryFailed();
        // The failed row gives way to a new task from the same script.
        QTRY_COMPARE(engine.tasks().size(), 3);
        QCOMPARE(engine.tasks().last().file, bad.file);
        QTRY_COMPARE(model->rowCount(), 2);
        QCOMPARE(model->rowOf(ids[1]), -1);
        QTRY_VERIFY(isFinished(model->row(1).state));
        window.clearFinished();
        QCOMPARE(model->rowCount(), 0);
    }
};

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
