// The task table alone over a real engine (SPEC section 7), without the window around it:
// its actions are enabled by the selection and reach the engine, its context menu holds
// them, moving a task to the top changes what the engine runs first, and the current
// task is signalled for the panes.
#include "testsupport.h"

#include "localtasksource.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"
#include "taskview.h"

#include <QAction>
#include <QApplication>
#include <QItemSelectionModel>
#include <QMenu>
#include <QTest>

namespace {

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

// A view over `engine` fed with the source's batches, as the window feeds it.
struct Fixture
{
    explicit Fixture(Engine *engine)
        : source(engine)
        , view(&source)
    {
        QObject::connect(&source, &TaskSource::batch, &view,
                         [this](const TaskSourceBatch &batch) { view.applyUpdate(batch.update); });
    }
    LocalTaskSource source;
    TaskView view;
};

bool allFinished(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (!isFinished(stateOf(engine, id)))
            return false;
    return true;
}

} // namespace

class tst_TaskView : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void actionsAreEnabledByTheSelection()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        TaskView &view = f.view;
        const QList<QAction *> needATask = {
            view.action(TaskView::Cancel),        view.action(TaskView::MoveToTop),
            view.action(TaskView::MoveToBottom),  view.action(TaskView::RaisePriority),
            view.action(TaskView::LowerPriority), view.action(TaskView::EditPriority)};
        // No task, nothing to act on; what acts on all tasks stays enabled.
        for (QAction *action : needATask)
            QVERIFY2(!action->isEnabled(), qPrintable(action->objectName()));
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
        QVERIFY(view.action(TaskView::CancelPending)->isEnabled());
        QVERIFY(view.action(TaskView::ClearFinished)->isEnabled());

        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec});
        QTRY_COMPARE(view.taskModel()->rowCount(), 2);
        QVERIFY(view.selectTask(ids[0]));
        for (QAction *action : needATask)
            QVERIFY2(action->isEnabled(), qPrintable(action->objectName()));
        // A pending task cannot be re-run; a finished one can.
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
        engine.cancel(ids[1]);
        QTRY_COMPARE(view.taskModel()->row(view.taskModel()->rowOf(ids[1])).state,
                     TaskState::Cancelled);
        QVERIFY(view.selectTask(ids[1]));
        QVERIFY(view.action(TaskView::Rerun)->isEnabled());

        // Neither selected nor current: disabled again.
        view.selectionModel()->clear();
        QCOMPARE(view.selectedTasks(), QList<TaskId>());
        for (QAction *action : needATask)
            QVERIFY2(!action->isEnabled(), qPrintable(action->objectName()));
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
    }

    void cancelActionCancelsTheSelectedTaskInTheEngine()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 3);
        QVERIFY(f.view.selectTask(ids[1]));
        f.view.action(TaskView::Cancel)->trigger();
        QTRY_COMPARE(stateOf(engine, ids[1]), TaskState::Cancelled);

        // Its shortcut works in the view alone, without a window's menus.
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QApplication::setActiveWindow(&f.view);
        QVERIFY(f.view.selectTask(ids[2]));
        f.view.setFocus();
        QTest::keyClick(&f.view, Qt::Key_Delete);
        QTRY_COMPARE(stateOf(engine, ids[2]), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, ids[0]), TaskState::Pending);
    }

    void contextMenuHoldsTheTaskActions()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        QMenu *menu = f.view.contextMenu();
        QVERIFY(menu);
        const QList<QAction *> actions = menu->actions();
        for (TaskView::Action which :
             {TaskView::Rerun, TaskView::Cancel, TaskView::MoveToTop, TaskView::MoveToBottom,
              TaskView::EditPriority, TaskView::Export})
            QVERIFY2(actions.contains(f.view.action(which)),
                     qPrintable(f.view.action(which)->objectName()));

        // Asked for over a row, it pops up with the actions enabled for that row.
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 1);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QVERIFY(f.view.selectTask(id));
        Q_EMIT f.view.customContextMenuRequested(QPoint(5, 5));
        QTRY_VERIFY(menu->isVisible());
        QVERIFY(f.view.action(TaskView::Cancel)->isEnabled());
        menu->close();
    }

    void moveToTopActionChangesWhatTheEngineRunsFirst()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c")});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 3);
        QVERIFY(f.view.selectTask(ids[2]));
        f.view.action(TaskView::MoveToTop)->trigger();
        QVERIFY(f.view.selectTask(ids[0]));
        f.view.action(TaskView::MoveToBottom)->trigger();
        // Requests reach the engine in the order they were made: the moves before the resume.
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"c", "b", "a"}));
    }

    void selectingATaskMakesItTheCurrentTask()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        QList<std::optional<TaskId>> told;
        QObject::connect(&f.view, &TaskView::currentTaskChanged,
                         [&told](std::optional<TaskId> id) { told.append(id); });
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 2);
        // Until the user picks one, a task is made current for the panes.
        QTRY_VERIFY(!told.isEmpty());
        QVERIFY(f.view.selectTask(ids[1]));
        QCOMPARE(told.constLast(), std::optional<TaskId>(ids[1]));
        QCOMPARE(f.view.currentTask(), std::optional<TaskId>(ids[1]));
        QCOMPARE(f.view.selectedTasks(), QList<TaskId>{ids[1]});
    }
};

QTEST_MAIN(tst_TaskView)
#include "tst_taskview.moc"
